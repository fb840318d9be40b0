// mfw ui: follow what changed. The server announces changes as
// server-sent events ("runs", "run Flow/12"); a page whose data-watch
// matches fetches its main part again and swaps it in. One connection per
// page, no polling.
(function () {
  "use strict";
  var watch = document.body.dataset.watch || "";
  var status = document.getElementById("connection");
  if (!watch || !window.EventSource) {
    return;
  }
  var pending = false;
  var again = false;

  function reload() {
    if (pending) {
      again = true;
      return;
    }
    pending = true;
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          var main = document.getElementById("live");
          var y = window.scrollY;
          main.innerHTML = html;
          window.scrollTo(0, y);
          document.body.dataset.updated = String(Date.now());
        }
      })
      .catch(function () {})
      .finally(function () {
        pending = false;
        if (again) {
          again = false;
          setTimeout(reload, 250);
        }
      });
  }

  var events = new EventSource("/events");
  events.onopen = function () {
    status.textContent = "live";
    status.className = "connection live";
  };
  events.onerror = function () {
    status.textContent = "reconnecting";
    status.className = "connection lost";
  };
  events.onmessage = function (event) {
    if (event.data === watch || event.data === "all") {
      reload();
    }
  };
})();
