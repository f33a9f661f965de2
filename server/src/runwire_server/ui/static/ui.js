// runwire UI: live updates of a run page. Without JavaScript the page still shows the run as it
// was when loaded (reload to refresh).
// Phase 2 seam: follow() polls /ui/runs/{id}/state; the runs API's event stream
// (EventSource on /api/v1/runs/{id}/events/) can feed the same apply() instead.
(function () {
  "use strict";
  var status = document.getElementById("run-status");
  if (!status || status.dataset.terminal === "true") return;

  function stateHtml(s) {
    var span = document.createElement("span");
    span.className = "state state-" + s.css;
    var glyph = document.createElement("span");
    glyph.className = "glyph";
    glyph.setAttribute("aria-hidden", "true");
    glyph.textContent = s.glyph;
    span.appendChild(glyph);
    span.appendChild(document.createTextNode(" " + s.word));
    return span;
  }

  function apply(body) {
    var current = status.querySelector(".state");
    if (current) current.replaceWith(stateHtml(body.run));
    Object.keys(body.nodes).forEach(function (id) {
      var s = body.nodes[id];
      document.querySelectorAll(".node[data-node]").forEach(function (node) {
        if (node.getAttribute("data-node") !== id) return;
        node.setAttribute("class", "node state-" + s.css);
        var glyph = node.querySelector(".node-state .glyph");
        var word = node.querySelector(".node-state .word");
        if (glyph) glyph.textContent = s.glyph;
        if (word) word.textContent = s.word;
      });
      document.querySelectorAll("[data-node-state]").forEach(function (span) {
        if (span.getAttribute("data-node-state") !== id) return;
        span.replaceChildren(stateHtml(s));
      });
    });
  }

  function follow(url, every) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (reply) {
        if (!reply.ok) throw new Error("status " + reply.status);
        return reply.json();
      })
      .then(function (body) {
        apply(body);
        if (body.terminal) {
          window.location.reload(); // results and errors are rendered by the server
        } else {
          window.setTimeout(function () { follow(url, every); }, every);
        }
      })
      .catch(function () {
        window.setTimeout(function () { follow(url, every); }, every * 3);
      });
  }

  follow(status.dataset.stateUrl, Number(status.dataset.pollMs) || 1000);
})();
