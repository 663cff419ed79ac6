// review.js: the series page's reading aids. The page works without it:
// every diff, comment and form is written by the server, and this file
// only adds to them: collapse and expand all files, "viewed" marks sent
// without a reload, hidden context lines fetched in place, and keys:
//   j / k   next / previous file      n / p   next / previous comment
//   c       comment on the current line  ?   show the keys
// No framework, no build step; served from the binary (web/pages.go).
(function () {
  "use strict";
  var doc = document;
  doc.documentElement.classList.add("js");

  function all(sel, root) { return Array.prototype.slice.call((root || doc).querySelectorAll(sel)); }
  function files() { return all("details.file"); }
  function say(msg) {
    var s = doc.getElementById("diff-status");
    if (s) { s.textContent = msg; }
  }

  // The current file and line: what j/k, n/p and clicks last chose.
  var curFile = null, curCell = null;
  function mark(el, cls, on) { if (el) { el.classList.toggle(cls, on); } }
  function setFile(f) {
    mark(curFile, "cur", false);
    curFile = f;
    mark(curFile, "cur", true);
  }
  function setCell(td) {
    mark(curCell && curCell.parentNode, "cur", false);
    curCell = td;
    mark(curCell && curCell.parentNode, "cur", true);
    if (td) { setFile(td.closest("details.file")); }
  }

  // Collapse all, expand all, show the keys.
  var keys = doc.getElementById("keys");
  all("[data-act]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var act = b.getAttribute("data-act");
      if (act === "keys") { if (keys) { keys.showModal(); } return; }
      files().forEach(function (f) { f.open = act === "expand"; });
      say(act === "expand" ? "All files expanded." : "All files collapsed.");
    });
  });
  all(".jsonly").forEach(function (e) { e.hidden = false; });

  // j/k: the next or previous file, focused on its header.
  function moveFile(step) {
    var fs = files();
    if (!fs.length) { return; }
    var at = doc.activeElement && doc.activeElement.closest ? doc.activeElement.closest("details.file") : null;
    var i = fs.indexOf(at || curFile);
    i = i < 0 ? (step > 0 ? 0 : fs.length - 1) : Math.min(fs.length - 1, Math.max(0, i + step));
    setCell(null);
    setFile(fs[i]);
    var s = fs[i].querySelector("summary");
    s.focus();
    s.scrollIntoView({ block: "start" });
  }

  // n/p: the next or previous review comment, its file opened.
  var curComment = -1;
  function moveComment(step) {
    var cs = all(".comment");
    if (!cs.length) { say("No comments on this page."); return; }
    var i = cs.indexOf(doc.activeElement && doc.activeElement.closest ? doc.activeElement.closest(".comment") : null);
    if (i < 0) { i = curComment; }
    i = i < 0 ? (step > 0 ? 0 : cs.length - 1) : Math.min(cs.length - 1, Math.max(0, i + step));
    curComment = i;
    var c = cs[i];
    var f = c.closest("details.file");
    if (f) { f.open = true; }
    var row = c.closest("tr.comments");
    if (row && row.previousElementSibling) { setCell(row.previousElementSibling.querySelector("td.chroma:last-child") || null); }
    if (c.tagName !== "DETAILS") { c.tabIndex = -1; }
    var target = c.tagName === "DETAILS" ? c.querySelector("summary") : c;
    target.focus();
    target.scrollIntoView({ block: "center" });
  }

  // c: open the comment box of the current line (the one clicked, the
  // one the address names, or the first of the current file).
  function comment() {
    var td = curCell;
    if (!td || !td.querySelector("details.cl")) {
      var t = location.hash ? doc.getElementById(location.hash.slice(1)) : null;
      if (t && t.tagName === "TR") { td = t.querySelector("td.chroma"); }
      if (t && t.tagName === "TD") { td = t.nextElementSibling; }
    }
    if ((!td || !td.querySelector("details.cl")) && curFile) {
      var box = curFile.querySelector("details.cl");
      td = box ? box.closest("td") : null;
    }
    var cl = td ? td.querySelector("details.cl") : null;
    if (!cl) { say("No comment box here: sign in to comment, or choose a line with j/k and a click."); return; }
    var f = cl.closest("details.file");
    if (f) { f.open = true; }
    setCell(td);
    cl.open = true;
    // Focus once the key is up, so that the "c" is not typed in the box.
    var ta = cl.querySelector("textarea"), timer;
    var go = function () { clearTimeout(timer); doc.removeEventListener("keyup", go, true); ta.focus(); };
    timer = setTimeout(go, 300);
    doc.addEventListener("keyup", go, true);
  }

  doc.addEventListener("click", function (e) {
    var td = e.target.closest && e.target.closest("table.diff td");
    if (!td || e.target.closest("details.cl, a")) { return; }
    if (td.classList.contains("no")) { td = td.nextElementSibling; }
    if (td && td.classList.contains("chroma")) { setCell(td); }
  });

  doc.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) { return; }
    var t = e.target;
    if (t.isContentEditable || (t.closest && t.closest("input, textarea, select"))) { return; }
    if (keys && keys.open && e.key !== "?") { return; }
    var act = { j: function () { moveFile(1); }, k: function () { moveFile(-1); },
      n: function () { moveComment(1); }, p: function () { moveComment(-1); }, c: comment,
      "?": function () { if (!keys) { return; } if (keys.open) { keys.close(); } else { keys.showModal(); } } }[e.key];
    if (act) { e.preventDefault(); act(); }
  });

  // "Viewed": the checkbox sends its file's form without a reload; a
  // viewed file folds. Without this script the form's button sends it.
  all("input.viewed-box").forEach(function (box) {
    box.addEventListener("change", function () {
      var form = box.form, f = box.closest("details.file");
      var body = new URLSearchParams(new FormData(form));
      fetch(form.action, { method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (res) {
          if (!res.ok) { throw new Error(res.status + " " + res.statusText); }
          if (f) { f.classList.toggle("viewed", box.checked); if (box.checked) { f.open = false; } }
          var n = doc.getElementById("viewed-n");
          if (n) { n.textContent = all("input.viewed-box:checked").length; }
          say(box.checked ? "Marked as viewed." : "Marked as not viewed.");
        })
        .catch(function (err) { box.checked = !box.checked; say("Not saved: " + err.message); });
    });
  });

  // Context: "expand" links fetch the hidden lines of the file at the
  // series' base and put them in place; without this script the link
  // shows them on a page of their own.
  doc.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a.expand");
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) { return; }
    e.preventDefault();
    var u = new URL(a.href, location.href);
    u.searchParams.set("frag", "1");
    fetch(u, { credentials: "same-origin" })
      .then(function (res) {
        if (!res.ok) { throw new Error(res.status + " " + res.statusText); }
        return res.text();
      })
      .then(function (html) {
        var tpl = doc.createElement("template");
        tpl.innerHTML = html;
        var rows = tpl.content.querySelectorAll("tr");
        var row = a.closest("tr"), first = rows[0];
        // Lines above a hunk go above those shown before them.
        row.parentNode.insertBefore(tpl.content, a.shown || row);
        if (first && a.getAttribute("data-dir") === "up") { a.shown = first; }
        var from = +u.searchParams.get("from"), to = +u.searchParams.get("to"), min = +a.getAttribute("data-min");
        var n = to - from + 1;
        if (a.getAttribute("data-dir") === "up") {
          to = from - 1;
          from = Math.max(min, to - n + 1);
          if (to < min) { a.remove(); }
        } else {
          if (rows.length < n) { a.remove(); }
          from = to + 1;
          to = from + n - 1;
        }
        if (a.getAttribute("data-dir") === "up") { a.textContent = "⋯ show lines " + from + "–" + to; }
        u.searchParams.delete("frag");
        u.searchParams.set("from", from);
        u.searchParams.set("to", to);
        a.href = u.pathname + u.search;
        say(rows.length + " lines shown.");
      })
      .catch(function (err) { say("Could not load the lines: " + err.message); });
  });
})();
