// The dispatch board without this script is complete (plain forms); this
// only saves clicks: the filters apply when changed, and a job bar dropped
// on a technician's row (or "Unassigned") submits that job's assign form.
"use strict";
(function () {
  var filters = document.getElementById("filters");
  if (filters) {
    filters.querySelectorAll("select, input").forEach(function (el) {
      el.addEventListener("change", function () { filters.submit(); });
    });
  }
  document.querySelectorAll("a.bar[data-job]").forEach(function (bar) {
    bar.addEventListener("dragstart", function (e) {
      e.dataTransfer.setData("text/plain", bar.getAttribute("data-job"));
    });
  });
  document.querySelectorAll("tr.tech").forEach(function (row) {
    row.addEventListener("dragover", function (e) {
      e.preventDefault();
      row.classList.add("drop");
    });
    row.addEventListener("dragleave", function () { row.classList.remove("drop"); });
    row.addEventListener("drop", function (e) {
      e.preventDefault();
      row.classList.remove("drop");
      var job = e.dataTransfer.getData("text/plain");
      var form = document.querySelector('form[data-assign="' + CSS.escape(job) + '"]');
      if (!form) { return; }
      form.querySelector("select[name=technician]").value = row.getAttribute("data-technician");
      form.submit();
    });
  });
})();
