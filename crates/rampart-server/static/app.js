// Rampart web UI: progressive enhancements only (every page works without this file).
// Text from the server is inserted with textContent, never as HTML; the one exception is the signal side
// panel, a fragment this server rendered through its auto-escaping templates (parsed inert, and the CSP
// allows no inline script).
"use strict";
(function () {
  const csrf = document.body ? document.body.dataset.csrf : "";

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.message || ("HTTP " + r.status));
    return data;
  }

  // Forms that ask before they act.
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (ev) => {
      if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
    });
  });

  // Signals explorer: a row opens the signal in a side panel (a plain click; others follow the link).
  const panel = document.getElementById("side-panel");
  if (panel) {
    let shown = null;
    const close = () => {
      panel.hidden = true;
      panel.replaceChildren();
      if (shown) shown.classList.remove("selected");
      shown = null;
    };
    document.querySelectorAll("a.signal-link[data-panel]").forEach((a) => {
      a.addEventListener("click", async (ev) => {
        if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
        ev.preventDefault();
        const row = a.closest("tr");
        try {
          const r = await fetch(a.dataset.panel, { credentials: "same-origin" });
          if (!r.ok) throw new Error("HTTP " + r.status);
          const doc = new DOMParser().parseFromString(await r.text(), "text/html");
          if (shown) shown.classList.remove("selected");
          panel.replaceChildren(...doc.body.childNodes);
          panel.hidden = false;
          shown = row;
          if (row) row.classList.add("selected");
        } catch (e) {
          window.location.href = a.href;
        }
      });
    });
    panel.addEventListener("click", (ev) => {
      if (ev.target.id === "panel-close") close();
    });
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && !panel.hidden) close();
    });
  }

  // Custom rule editor: validate as you type, test against recent events.
  const expr = document.getElementById("rule-expression");
  const out = document.getElementById("validation");
  if (expr && out) {
    let timer = null;
    let seq = 0;
    const validate = async () => {
      const mine = ++seq;
      if (!expr.value.trim()) { out.replaceChildren(); return; }
      try {
        const v = await post(expr.dataset.validate, { expression: expr.value });
        if (mine !== seq) return;
        out.replaceChildren();
        if (v.ok) {
          out.className = "validation ok";
          out.appendChild(el("span", "", "✓ compiles"));
        } else {
          out.className = "validation bad";
          v.problems.forEach((p) => {
            const where = p.line ? "line " + p.line + ", column " + p.column + ": " : "";
            out.appendChild(el("div", "problem", where + p.error));
          });
        }
        (v.warnings || []).forEach((w) => out.appendChild(el("div", "warning", "warning: " + w.error)));
      } catch (e) {
        out.className = "validation bad";
        out.replaceChildren(el("div", "problem", e.message));
      }
    };
    expr.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(validate, 250); });
    if (expr.value.trim()) validate();
  }

  const testBtn = document.getElementById("rule-test");
  const testOut = document.getElementById("test-result");
  if (testBtn && testOut && expr) {
    testBtn.addEventListener("click", async () => {
      testOut.replaceChildren(el("span", "muted", "testing…"));
      try {
        const r = await post(testBtn.dataset.test, { expression: expr.value });
        testOut.replaceChildren(el("p", "", r.matched + " of the " + r.events + " most recent events match."));
        const list = el("ul");
        r.matches.forEach((m) => {
          list.appendChild(el("li", "mono", "#" + m.stored_match + " " + (m.type || "") + " on " + (m.host || "?") + ": " + (m.process || "")));
        });
        testOut.appendChild(list);
      } catch (e) {
        testOut.replaceChildren(el("p", "error", e.message));
      }
    });
  }
})();
