// Live progress: any element with data-progress-url is refreshed from that JSON endpoint
// ({"campaigns": [{id, status, active, percent, contacts, contacts_done, ...}]}); rows are matched by
// data-campaign. Polls every 2 s while a campaign is active, every 15 s otherwise.
(function () {
  "use strict";
  // Bar sizes and colours come as data- attributes (the Content-Security-Policy allows no inline style).
  document.querySelectorAll("[data-width]").forEach(function (el) {
    el.style.width = el.getAttribute("data-width") + "%";
    if (el.hasAttribute("data-colour")) el.style.background = el.getAttribute("data-colour");
  });
  // Buttons that change a campaign for good ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });

  // A page waiting for background work (a rehearsal's report) reloads itself until the server renders it.
  var waiting = document.querySelector("[data-reload-after]");
  if (waiting) setTimeout(function () { window.location.reload(); }, 1000 * waiting.getAttribute("data-reload-after"));

  var root = document.querySelector("[data-progress-url]");
  if (!root) return;
  var url = root.getAttribute("data-progress-url");

  function set(row, field, text) {
    row.querySelectorAll('[data-field="' + field + '"]').forEach(function (el) { el.textContent = text; });
  }

  function update(c) {
    document.querySelectorAll('[data-campaign="' + c.id + '"]').forEach(function (row) {
      row.querySelectorAll(".bar").forEach(function (bar) {
        bar.setAttribute("aria-valuenow", c.percent);
        bar.firstElementChild.style.width = c.percent + "%";
      });
      set(row, "percent", c.percent + " %");
      set(row, "contacts", c.contacts);
      set(row, "contacts_done", c.contacts_done);
      set(row, "finished", c.finished);
      set(row, "attempts", c.attempts);
      row.querySelectorAll('[data-field="status"]').forEach(function (el) {
        el.textContent = c.status;
        el.className = "status status-" + c.status;
      });
    });
  }

  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        data.campaigns.forEach(update);
        root.setAttribute("data-updated", new Date().toISOString());
        setTimeout(tick, data.campaigns.some(function (c) { return c.active; }) ? 2000 : 15000);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }

  setTimeout(tick, 1000);
})();
