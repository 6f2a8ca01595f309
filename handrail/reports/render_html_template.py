"""The HTML page of the ``stats`` report, as a Jinja template (``render_html`` fills it in).

A string rather than a file beside the module, so that the wheel needs no package data. The
environment escapes every value (autoescape): the ledger holds model text, which is untrusted.
"""

from __future__ import annotations

from typing import Final

STYLE: Final = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2430;
       margin: 2rem auto; max-width: 960px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.small, svg .small { font-size: 11px; fill: #4a5566; color: #4a5566; }
svg .label { font-size: 12px; text-anchor: end; fill: #1d2430; }
svg .mark { stroke: #1d2430; stroke-dasharray: 4 3; }
.cards { display: flex; gap: .8rem; flex-wrap: wrap; margin: 1rem 0; }
.card { border: 1px solid #d8dee8; border-radius: 6px; padding: .5rem .8rem; min-width: 140px; }
.big { font-size: 1.4rem; font-weight: 600; }
table { border-collapse: collapse; margin: .6rem 0; font-size: 12px; }
th, td { border-bottom: 1px solid #e3e8ef; padding: .2rem .5rem; }
.l { text-align: left; } .r { text-align: right; }
.scroll { overflow-x: auto; }
.none { color: #4a5566; font-style: italic; }
.rec { background: #fff6e0; border-left: 4px solid #E69F00; padding: .4rem .8rem; }
code { background: #f1f4f8; padding: .1rem .3rem; border-radius: 3px; }
"""

# ``style`` is this module's own constant, hence |safe. Shapes come drawn (positions worked
# out) by render_html.py; the template only writes them.
PAGE: Final = """\
{%- macro table(t) -%}
<div class="scroll"><table><thead><tr>
{%- for h in t.headers %}<th class="{{ t.sides[loop.index0] }}">{{ h }}</th>{% endfor -%}
</tr></thead><tbody>
{%- for row in t.rows %}<tr>
{%- for c in row %}<td class="{{ t.sides[loop.index0] }}">{{ c }}</td>{% endfor -%}
</tr>{% endfor -%}
</tbody></table></div>
{%- endmacro -%}

{%- macro chart(c) -%}
{%- if c is none %}<p class="none">No data yet.</p>{% else -%}
<svg viewBox="0 0 {{ c.width }} {{ c.height }}" width="{{ c.width }}" height="{{ c.height }}" \
role="img">
{%- for s in c.shapes -%}
<{{ s.tag }}{{ s.attrs|xmlattr }}>
{%- if s.tag == "text" %}{{ s.text }}{% elif s.text %}<title>{{ s.text }}</title>{% endif -%}
</{{ s.tag }}>
{%- endfor %}</svg>
{%- endif -%}
{%- endmacro -%}

<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Handrail stats</title><style>{{ style|safe }}</style></head><body>
<h1>Handrail stats</h1>
<p class="small">Generated {{ generated }} from {{ source }}</p>
<div class="cards">
{%- for card in cards -%}
<div class="card"><div class="small">{{ card[0] }}</div><div class="big">{{ card[1] }}</div>\
<div class="small">{{ card[2] }}</div></div>
{%- endfor -%}
</div>
<p class="small">Tasks by status: {{ statuses or "none yet" }}</p>
<h2>Outcomes by action type</h2>{{ chart(outcomes) }}{{ table(outcome_table) }}
<p class="small">success % = (success + approved) / steps. Hover a bar for its counts.</p>
<h2>Latency per step kind</h2>{{ chart(latency) }}{{ table(latency_table) }}
<h2>The commit point</h2><p class="small">{{ commit_title }}</p>\
{% if commit %}{{ table(commit) }}{% endif %}
<h2>Reviewer agreement per tool</h2>{{ chart(agreement) }}
<p class="small">agreement = approved unchanged / reviews decided (approved, edited, rejected,
answered instead).</p>
{% for autonomy in autonomies %}<h2>Earned autonomy in profile {{ autonomy.profile }}</h2>\
<p class="small">Promote at ≥ {{ autonomy.promote_at }} agreement, demote below \
{{ autonomy.demote_below }}, over the newest {{ autonomy.recent }} reviews since the tool's last \
change (at least {{ autonomy.min_reviews }}). Nothing changes until a person runs the command.\
</p>{{ table(autonomy.table) }}
{%- for a in autonomy.recommendations -%}
<p class="rec"><b>{{ a.advice }} {{ a.tool }}</b> ({{ a.reason }}): <code>python starter.py \
{{ a.advice }} {{ a.tool }} --profile {{ a.profile }} --as NAME --why "..."</code></p>
{%- else %}<p class="none">No change recommended.</p>{% endfor %}{% endfor %}
{% if shadow %}<h2>Shadow rules</h2>{{ table(shadow) }}<p class="small">{{ shadow_notes }}</p>
{%- for line in shadow_examples %}<p class="small">Bad let through, {{ line }}</p>{% endfor %}
{%- endif %}
{% if calibration %}<h2>Calibrated confidence</h2><p class="small">{{ calibration_title }}</p>\
{{ table(calibration) }}<p class="small">{{ calibration_notes }}</p>
{%- for line in calibration_reasons %}<p class="small">{{ line }}</p>{% endfor %}{% endif %}
<h2>Tokens and estimated cost</h2>{{ table(cost_table) }}
<p class="small">Costs are estimates from public list prices, without discounts or caching;
unpriced tasks: {{ unpriced }}.</p>
</body></html>
"""
