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

# ``style`` is this module's own constant, hence |safe. The words come from the report's view
# (handrail/reports/view.py), section by section as the terminal shows them; shapes come drawn
# (positions worked out) by render_html.py. The template only writes them.
PAGE: Final = """\
{%- macro table(t) -%}
<div class="scroll"><table><thead><tr>
{%- for h in t.headers %}<th class="{{ t.align[loop.index0] }}">{{ h }}</th>{% endfor -%}
</tr></thead><tbody>
{%- for row in t.rows %}<tr>
{%- for c in row %}<td class="{{ t.align[loop.index0] }}">{{ c }}</td>{% endfor -%}
</tr>{% endfor -%}
</tbody></table></div>
{%- endmacro -%}

{%- macro chart(c) -%}
<svg viewBox="0 0 {{ c.width }} {{ c.height }}" width="{{ c.width }}" height="{{ c.height }}" \
role="img">
{%- for s in c.shapes -%}
<{{ s.tag }}{{ s.attrs|xmlattr }}>
{%- if s.tag == "text" %}{{ s.text }}{% elif s.text %}<title>{{ s.text }}</title>{% endif -%}
</{{ s.tag }}>
{%- endfor %}</svg>
{%- if c.hint %}<p class="small">{{ c.hint }}</p>{% endif -%}
{%- endmacro -%}

<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Handrail stats</title><style>{{ style|safe }}</style></head><body>
<h1>Handrail stats</h1>
<p class="small">{{ view.summary }} · generated {{ view.generated }} from \
{{ view.ledger or "the run ledger" }}</p>
<div class="cards">
{%- for card in view.cards -%}
<div class="card"><div class="small">{{ card.label }}</div><div class="big">{{ card.value }}\
</div><div class="small">{{ card.detail }}</div></div>
{%- endfor -%}
</div>
{%- if view.nothing_yet %}<p class="none">{{ view.nothing_yet }}</p>{% endif %}
{%- for s in view.sections %}
<h2>{{ s.title }}</h2>
{%- for line in s.lines %}<p>{{ line }}</p>{% endfor %}
{%- if charts.get(s.key) %}{{ chart(charts[s.key]) }}{% endif %}
{%- if s.table %}{{ table(s.table) }}{% endif %}
{%- for note in s.notes %}<p class="small">{{ note }}</p>{% endfor %}
{%- for remark in s.remarks %}<p class="small">{{ remark }}</p>{% endfor %}
{%- if s.recommendations %}<p>{{ recommended }}</p>{% endif %}
{%- for r in s.recommendations -%}
<p class="rec"><b>{{ r.advice }} {{ r.tool }}</b> ({{ r.reason }}): <code>{{ r.command }}</code></p>
{%- endfor %}
{%- endfor %}
</body></html>
"""
