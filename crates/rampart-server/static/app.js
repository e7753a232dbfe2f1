// Rampart web UI: progressive enhancements only (every page works without this file).
// Text from the server is inserted with textContent, never as HTML; the exceptions are fragments this
// server rendered through its auto-escaping templates (the signal side panel, rule test results), parsed
// inert (and the CSP allows no inline script).
"use strict";
(function () {
  const csrf = document.body ? document.body.dataset.csrf : "";

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A JSON post with the session's CSRF token; the response, or an error with the server's reason.
  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
    });
    if (!r.ok) {
      const data = await r.json().catch(() => ({}));
      throw new Error(data.message || ("HTTP " + r.status));
    }
    return r;
  }

  // A fragment rendered by this server's templates in place of `target`'s children.
  function showFragment(target, html) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    target.replaceChildren(...doc.body.childNodes);
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
          const html = await r.text();
          if (shown) shown.classList.remove("selected");
          showFragment(panel, html);
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

  // Rule editors (custom rules, backend rule files): validate as you type, test against recent events.
  // A source names its check (data-validate), the JSON key it is posted as (data-field) and where the
  // result goes (data-output); a test button names its endpoint (data-test), source and output.
  const payload = (src) => ({ [src.dataset.field]: src.value });

  document.querySelectorAll("[data-validate][data-field]").forEach((src) => {
    const out = document.getElementById(src.dataset.output);
    if (!out) return;
    let timer = null;
    let seq = 0;
    const validate = async () => {
      const mine = ++seq;
      if (!src.value.trim()) { out.replaceChildren(); return; }
      try {
        const v = await (await post(src.dataset.validate, payload(src))).json();
        if (mine !== seq) return;
        out.replaceChildren();
        if (v.ok) {
          out.className = "validation ok";
          const ids = (v.valid || []).join(", ");
          out.appendChild(el("span", "", "✓ compiles" + (ids ? ": " + ids : "")));
        } else {
          out.className = "validation bad";
          v.problems.forEach((p) => {
            const at = p.line ? "line " + p.line + (p.column ? ", column " + p.column : "") : "";
            const where = p.rule ? "rule " + p.rule + (at ? " (" + at + ")" : "") : at;
            out.appendChild(el("div", "problem", (where ? where + ": " : "") + p.error));
          });
        }
        (v.warnings || []).forEach((w) => out.appendChild(el("div", "warning", "warning: " + w.error)));
      } catch (e) {
        if (mine !== seq) return;
        out.className = "validation bad";
        out.replaceChildren(el("div", "problem", e.message));
      }
    };
    src.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(validate, 250); });
    if (src.value.trim()) validate();
  });

  document.querySelectorAll("button[data-test]").forEach((btn) => {
    const src = document.getElementById(btn.dataset.source);
    const out = document.getElementById(btn.dataset.output);
    if (!src || !out) return;
    btn.addEventListener("click", async () => {
      out.replaceChildren(el("span", "muted", "testing…"));
      try {
        showFragment(out, await (await post(btn.dataset.test, payload(src))).text());
      } catch (e) {
        out.replaceChildren(el("p", "error", e.message));
      }
    });
  });
})();
