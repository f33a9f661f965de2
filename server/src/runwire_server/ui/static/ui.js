// runwire UI: live updates of a run page. Without JavaScript the page shows the run as it was
// when loaded (reload to refresh); the lists and forms need no script at all.
//
// The page follows the run's event stream (/ui/runs/{id}/events: the runs API's events, relayed
// for the session, since EventSource cannot send credential headers). Each event asks for the
// page's changing part again (/ui/runs/{id}/live, an HTML fragment rendered by the server, so
// states, timings and results look exactly as on a fresh page); requests are coalesced, so a
// burst of events costs at most two fetches. EventSource reconnects by itself with
// Last-Event-ID; the page stops at run_finished. Without EventSource (or when the stream
// cannot be opened) it asks for the fragment every 2 s instead.
(function () {
  "use strict";
  var live = document.getElementById("run-live");
  if (!live || live.dataset.terminal === "true") return;
  var runState = document.getElementById("run-state");
  var announce = document.getElementById("announce");
  var WORDS = {
    node_started: "running",
    node_finished: "succeeded",
    node_failed: "failed",
    node_skipped: "skipped"
  };
  var busy = false;
  var again = false;
  var finished = false;
  var source = null;

  function finish() {
    finished = true;
    live.dataset.terminal = "true";
    if (source) source.close();
    var form = document.getElementById("cancel-form");
    if (form) {
      if (form.contains(document.activeElement)) runState.parentNode.focus();
      form.remove();
    }
  }

  function swap(html) {
    var focused = document.activeElement && live.contains(document.activeElement) ? document.activeElement.id : "";
    var open = [];
    live.querySelectorAll("details[open]").forEach(function (d) {
      var card = d.closest("[id]");
      if (card) open.push(card.id);
    });
    live.innerHTML = html;
    open.forEach(function (id) {
      var card = document.getElementById(id);
      var details = card && card.querySelector("details");
      if (details) details.open = true;
    });
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(live.dataset.liveUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (reply) {
        if (!reply.ok) throw new Error("status " + reply.status);
        return reply.text();
      })
      .then(function (html) {
        if (html.indexOf("data-live-status") < 0) {
          window.location.reload(); // signed out meanwhile: the page says so
          return;
        }
        swap(html);
        var status = live.querySelector("[data-live-status]");
        if (runState.innerHTML !== status.innerHTML) runState.innerHTML = status.innerHTML;
        if (status.dataset.terminal === "true") finish();
      })
      .catch(function () { /* the next event or poll tries again */ })
      .then(function () {
        busy = false;
        if (again && !finished) {
          again = false;
          refresh();
        }
      });
  }

  function say(text) {
    if (announce) announce.textContent = text;
  }

  function poll() {
    if (finished) return;
    refresh();
    window.setTimeout(poll, 2000);
  }

  if (!window.EventSource) {
    poll();
    return;
  }
  source = new EventSource(live.dataset.eventsUrl);
  Object.keys(WORDS).forEach(function (kind) {
    source.addEventListener(kind, function (event) {
      try {
        var data = JSON.parse(event.data);
        var card = document.getElementById("node-" + data.node);
        var name = card && card.querySelector(".node-name") ? card.querySelector(".node-name").textContent : data.node;
        say("Node " + name + ": " + WORDS[kind]);
      } catch (e) { /* the fragment still tells */ }
      refresh();
    });
  });
  source.addEventListener("run_finished", function () {
    source.close();
    refresh();
  });
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED && !finished) poll();
  };
})();
