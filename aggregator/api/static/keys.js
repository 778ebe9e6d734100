// Keyboard navigation: j / k move between the items of a list (events, articles,
// results, feeds, alerts), Enter opens the current one, / jumps to the search box,
// Escape leaves it. Plain script, served from /static so the CSP allows it
// (script-src 'self'); the page works the same without it.
(function () {
  "use strict";
  var current = -1;

  function items() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-nav]"));
  }

  function select(index) {
    var all = items();
    if (all.length === 0) return;
    index = Math.max(0, Math.min(all.length - 1, index));
    if (current >= 0 && all[current]) all[current].classList.remove("current");
    current = index;
    var item = all[current];
    item.classList.add("current");
    item.scrollIntoView({ block: "nearest" });
    var link = item.querySelector("a[href]");
    if (link) link.focus({ preventScroll: true });
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var typing = target && (target.isContentEditable ||
      /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "/") {
      var box = document.getElementById("q");
      if (box) {
        event.preventDefault();
        box.focus();
        box.select();
      }
    } else if (event.key === "j") {
      select(current + 1);
    } else if (event.key === "k") {
      select(current < 0 ? 0 : current - 1);
    }
  });
})();
