// mailsift dashboard: drag and drop, live progress (server-sent events, else polling), copy.
// Every page works without this file; it only makes them livelier.
(function () {
  "use strict";

  function setupDropzone() {
    var zone = document.getElementById("dropzone");
    var input = document.getElementById("file");
    var shown = document.getElementById("dropped");
    if (!zone || !input) return;
    function names() {
      var list = Array.prototype.map.call(input.files, function (f) { return f.name; });
      shown.textContent = list.length ? "Chosen: " + list.join(", ") : "";
    }
    zone.addEventListener("dragover", function (event) {
      event.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("over");
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        names();
      }
    });
    input.addEventListener("change", names);
  }

  function show(items) {
    items.forEach(function (item) {
      document.querySelectorAll('[data-job="' + item.id + '"]').forEach(function (box) {
        var bar = box.querySelector("progress");
        if (bar) bar.value = parseFloat(item.percentage);
        box.querySelector('[data-field="percentage"]').textContent = item.percentage;
        box.querySelector('[data-field="stage"]').textContent = item.stage;
        box.querySelector('[data-field="left"]').textContent = item.left ? " · " + item.left + " left" : "";
        box.querySelector('[data-field="counts"]').textContent = item.summary;
      });
    });
  }

  function watch(holder) {
    var ids = holder.getAttribute("data-watch");
    var reload = holder.hasAttribute("data-reload-when-done");
    var query = "?ids=" + encodeURIComponent(ids);
    var finished = false;

    function done() {
      if (finished) return;
      finished = true;
      if (reload) window.location.reload();
    }
    function handle(items) {
      show(items);
      if (!items.some(function (item) { return item.active; })) done();
    }
    function poll() {
      if (finished) return;
      fetch("/jobs/progress" + query, { credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.json() : Promise.reject(answer); })
        .then(handle)
        .catch(function () {})
        .then(function () { if (!finished) window.setTimeout(poll, 2000); });
    }
    if (!window.EventSource) { poll(); return; }
    var source = new EventSource("/jobs/events" + query);
    var failures = 0;
    source.onmessage = function (event) { failures = 0; handle(JSON.parse(event.data)); };
    source.addEventListener("finished", function () { source.close(); done(); });
    source.onerror = function () {
      failures += 1;
      if (failures >= 3) { source.close(); poll(); }  // a proxy that buffers or drops streams
    };
  }

  function setupCopy() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var field = document.querySelector(button.getAttribute("data-copy"));
        if (!field) return;
        var label = button.textContent;
        function copied() {
          button.textContent = "Copied";
          window.setTimeout(function () { button.textContent = label; }, 2000);
        }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(field.value).then(copied, function () {});
        } else {
          field.select();
          if (document.execCommand("copy")) copied();
        }
      });
    });
  }

  function start() {
    setupDropzone();
    setupCopy();
    document.querySelectorAll("[data-watch]").forEach(watch);
  }
  document.addEventListener("DOMContentLoaded", start);
  // After an htmx swap (the jobs search), watch the new table's jobs.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.target;
    if (target && target.querySelectorAll) {
      target.querySelectorAll("[data-watch]").forEach(watch);
      if (target.hasAttribute && target.hasAttribute("data-watch")) watch(target);
    }
  });
})();
