// The inbox's only script: served from here, never inline, so the pages' Content-Security-Policy
// can say script-src 'self' and refuse any script that model text might smuggle into a page.
// It reads data from the DOM's text (textContent, dataset), never as markup.
"use strict";

(function () {
  const pollMs = Number(document.body.dataset.pollMs) || 1500;

  // Keep the page current without a reload: poll this page's fragment and swap it in when its
  // state digest changes (a decision landed, a task moved on, a new review arrived). The
  // fragment is the server's escaped HTML, parsed inert (DOMParser runs no script) and adopted.
  async function tick() {
    const current = document.querySelector("[data-poll]");
    if (!current) return;
    try {
      const response = await fetch(current.dataset.poll, { credentials: "same-origin" });
      if (response.status === 401) { window.location.href = "/inbox/login"; return; }
      if (response.ok) {
        const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = parsed.querySelector("[data-poll], [data-state]");
        if (fresh && fresh.dataset.state !== current.dataset.state) {
          current.replaceWith(document.adoptNode(fresh));
        }
      }
    } catch (error) { /* the gateway restarts: try again at the next tick */ }
    setTimeout(tick, pollMs);
  }
  setTimeout(tick, pollMs);

  // The edit form's diff: what the reviewer changed, field by field, as they type. The
  // proposal as shown is a JSON data block inside the form (never an attribute).
  function originalOf(form) {
    const block = form.querySelector("script.original-arguments");
    try { return JSON.parse(block.textContent); } catch (e) { return {}; }
  }
  function show(value) { return value === undefined ? "(none)" : JSON.stringify(value); }
  function valueOf(input) {
    if (input.type === "checkbox") return input.checked;
    if (input.dataset.kind === "integer" || input.dataset.kind === "number") {
      return input.value === "" ? undefined : Number(input.value);
    }
    if (input.dataset.kind === "json") {
      try { return JSON.parse(input.value); } catch (e) { return input.value; }
    }
    return input.value;
  }
  function renderDiff(form) {
    const original = originalOf(form);
    let edited = {};
    const raw = form.querySelector("[name=arguments_json]");
    if (raw) {
      try { edited = JSON.parse(raw.value); } catch (e) { edited = null; }
    } else {
      form.querySelectorAll("[data-arg]").forEach(function (input) {
        const value = valueOf(input);
        if (value !== undefined && value !== "") edited[input.dataset.arg] = value;
      });
    }
    const out = form.querySelector(".diff");
    out.textContent = "";
    if (edited === null || typeof edited !== "object") { out.textContent = "Not valid JSON yet."; return; }
    const keys = Array.from(new Set(Object.keys(original).concat(Object.keys(edited))));
    const changed = keys.filter(function (k) { return show(original[k]) !== show(edited[k]); });
    if (!changed.length) { out.textContent = "No change yet."; return; }
    changed.forEach(function (k) {
      const line = document.createElement("div");
      const del = document.createElement("del"); del.textContent = show(original[k]);
      const ins = document.createElement("ins"); ins.textContent = show(edited[k]);
      line.append(k + ": ", del, " → ", ins);
      out.append(line);
    });
  }
  document.addEventListener("input", function (event) {
    const form = event.target.closest("form.edit");
    if (form) renderDiff(form);
  });
  document.addEventListener("change", function (event) {
    const form = event.target.closest("form.edit");
    if (form) renderDiff(form);
  });
  // Values already in the form when this deferred script runs (typed before it loaded, or
  // restored by the browser on going back) are a change too: show them now, not at the next key.
  document.querySelectorAll("form.edit").forEach(renderDiff);
})();
