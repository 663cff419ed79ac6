// drafts.js: "Add to review" without a page reload. The page works
// without it (the button posts the form and the page comes back with the
// pending comment in place); with it, the comment is saved with fetch
// and shown under its line at once. No framework, no build step.
"use strict";
document.addEventListener("click", async (ev) => {
  const b = ev.target.closest("button.add-draft");
  if (!b || !b.form) return;
  const row = b.closest("tr");
  const ta = row && row.querySelector("textarea");
  if (!ta || !ta.value.trim()) return;
  ev.preventDefault();
  const fd = new FormData();
  for (const el of b.form.elements) {
    if (el.name === "csrf" || el.name === "patch") fd.append(el.name, el.value);
  }
  fd.append(ta.name, ta.value);
  const box = row.querySelector('input[type=checkbox][name^="i:"]');
  if (box && box.checked) fd.append(box.name, "1");
  fd.append("op", "draft");
  const res = await fetch(b.form.action, {method: "POST", body: fd, headers: {Accept: "application/json"}});
  if (!res.ok) { b.form.requestSubmit(b); return; }
  const saved = (await res.json()).drafts || [];
  for (const c of saved) {
    const tr = document.createElement("tr");
    tr.className = "drafts";
    const td = tr.appendChild(document.createElement("td"));
    td.colSpan = 3;
    const div = td.appendChild(document.createElement("div"));
    div.className = "comment pending";
    div.id = "draft-" + c.id;
    div.innerHTML = '<div class="cmeta"><span class="state pending">pending</span> your comment, not sent yet (reload to edit)</div><pre class="cbody"></pre>';
    div.querySelector("pre").textContent = c.body;
    let at = row;
    while (at.nextElementSibling && /\b(comments|drafts)\b/.test(at.nextElementSibling.className)) at = at.nextElementSibling;
    at.after(tr);
  }
  ta.value = "";
  if (box) box.checked = false;
  row.querySelector("details.cl").open = false;
  const n = document.querySelector("#your-review .pending-count");
  if (n) n.textContent = String(Number(n.textContent) + saved.length);
});
