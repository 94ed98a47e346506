// leakprofd dashboard: table sorting, auto-refresh, filter auto-submit and the copy button.
// The pages are complete without this file; it only adds conveniences.
"use strict";
(function () {
  function cellValue(row, i, numeric) {
    var cell = row.cells[i];
    if (!cell) return numeric ? -Infinity : "";
    var v = cell.getAttribute("data-v");
    if (numeric) {
      var n = parseFloat(v !== null ? v : cell.textContent);
      return isNaN(n) ? -Infinity : n;
    }
    return (v !== null ? v : cell.textContent).trim().toLowerCase();
  }

  function sortBy(th) {
    var table = th.closest("table");
    var body = table.tBodies[0];
    if (!body) return;
    var index = Array.prototype.indexOf.call(th.parentNode.cells, th);
    var numeric = th.getAttribute("data-sort") === "num";
    var asc = !th.classList.contains("asc");
    if (!th.classList.contains("asc") && !th.classList.contains("desc") && numeric) asc = false;
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.classList.remove("asc", "desc"); });
    th.classList.add(asc ? "asc" : "desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
      if (x < y) return asc ? -1 : 1;
      if (x > y) return asc ? 1 : -1;
      return 0;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  document.querySelectorAll("table.sortable th[data-sort]").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th); });
  });

  document.querySelectorAll("select.autosubmit").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });

  var box = document.getElementById("autorefresh");
  var timer = null;
  function arm() {
    if (timer) clearTimeout(timer);
    timer = box && box.checked ? setTimeout(function () { location.reload(); }, 30000) : null;
  }
  if (box) {
    try { box.checked = localStorage.getItem("leakprofd.autorefresh") === "1"; } catch (e) { /* private mode */ }
    box.addEventListener("change", function () {
      try { localStorage.setItem("leakprofd.autorefresh", box.checked ? "1" : "0"); } catch (e) { /* ignore */ }
      arm();
    });
    arm();
  }

  document.querySelectorAll("button.copy").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var ta = document.getElementById(btn.getAttribute("data-target"));
      if (!ta) return;
      function done() { btn.textContent = "Copied"; setTimeout(function () { btn.textContent = "Copy"; }, 1500); }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(ta.value).then(done, function () { ta.select(); });
      } else {
        ta.select();
        try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
      }
    });
  });
  document.documentElement.setAttribute("data-js", "ready");
})();
