// Draws each chart of a card: its Vega-Lite spec, compiled to Vega and
// rendered as SVG in place. A chart that cannot be drawn says why.
(function () {
  "use strict";
  document.querySelectorAll("div.vega").forEach(function (div) {
    try {
      var spec = JSON.parse(document.getElementById(div.dataset.spec).textContent);
      var compiled = spec.$schema && spec.$schema.indexOf("/vega/") >= 0 ? spec : vegaLite.compile(spec).spec;
      new vega.View(vega.parse(compiled), { renderer: "svg", container: div })
        .runAsync()
        .then(function () {
          div.dataset.drawn = "true";
        })
        .catch(function (error) {
          div.textContent = "This chart cannot be drawn: " + error;
        });
    } catch (error) {
      div.textContent = "This chart cannot be drawn: " + error;
    }
  });
})();
