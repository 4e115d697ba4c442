"""Dashboard links that open a page inside the running app: no page load, scroll kept on back."""

# A plain left click on a link marked with ATTR (the experiments grid's cells and "compare"
# links, the player's run titles) is taken over by SCRIPT: the address is pushed onto the
# browser's history and Streamlit is told, as for its own back and forward buttons, so the page
# opens in the same session (~0.5 s, where a page load took 1-2 s and a new session). The page
# left keeps its scroll positions (the page's and the grid's box) under its address in
# sessionStorage, and gets them back when the browser returns to it. Middle clicks, clicks with
# a modifier key, "open in new tab" and copied addresses use the link's href as before.

ATTR = "data-animlib-nav"
SCRIPT_ID = "animlib-in-app-links"
SCROLLERS = ".animlib-grid-wrap"  # boxes inside the page whose scroll positions are kept too

SCRIPT = """(() => {
  if (window.animlibInAppLinks) return;
  window.animlibInAppLinks = true;
  const KEY = "animlib-scroll:";
  const here = () => location.pathname + location.search;
  const pageBox = () =>
    document.querySelector('[data-testid="stMain"]') || document.scrollingElement;
  const boxes = () => [...document.querySelectorAll("%(scrollers)s")];
  const state = () => document.querySelector('[data-testid="stApp"]')?.dataset.testScriptState;
  // back or forward to a page left by such a link: once Streamlit has run it again, scroll
  // where it was (the page's box and the grid's)
  window.addEventListener("popstate", () => {
    const key = KEY + here();
    const raw = sessionStorage.getItem(key);
    if (!raw) return;
    sessionStorage.removeItem(key);
    let want;
    try { want = JSON.parse(raw); } catch (e) { return; }
    const start = performance.now();
    let ran = false;
    const step = () => {
      const now = performance.now();
      if (here() !== key.slice(KEY.length) || now - start > 10000) return;  // gone on, or never ran
      ran = ran || state() === "running";
      const box = pageBox();
      const found = boxes();
      const done = (ran || now - start > 1500) && state() !== "running";
      if (done && box && box.scrollHeight - box.clientHeight >= want.page
          && found.length >= want.boxes.length) {
        box.scrollTop = want.page;
        want.boxes.forEach((b, i) => { found[i].scrollTop = b[0]; found[i].scrollLeft = b[1]; });
      } else {
        requestAnimationFrame(step);
      }
    };
    requestAnimationFrame(step);
  });
  document.addEventListener("click", (ev) => {
    const a = ev.target instanceof Element ? ev.target.closest("a[%(attr)s]") : null;
    if (!a || ev.defaultPrevented || ev.button !== 0) return;
    if (ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const to = new URL(a.href, location.href);
    if (to.origin !== location.origin) return;
    ev.preventDefault();
    const box = pageBox();
    sessionStorage.setItem(KEY + here(), JSON.stringify({
      page: box ? box.scrollTop : 0, boxes: boxes().map((b) => [b.scrollTop, b.scrollLeft]),
    }));
    history.pushState(null, "", to.href);
    window.dispatchEvent(new PopStateEvent("popstate", { state: null }));
  });
})();""" % {"attr": ATTR, "scrollers": SCROLLERS}  # noqa: UP031 (the JS is full of braces)
