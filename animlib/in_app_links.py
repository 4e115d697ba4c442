"""Dashboard links that open a page inside the running app: no page load, scroll kept on back."""

# A plain left click on a link marked with ATTR (the experiments grid's cells and "compare"
# links, the player's run titles) is taken over by SCRIPT: the address is pushed onto the
# browser's history and Streamlit is told, as for its own back and forward buttons, so the page
# opens in the same session (~0.5 s, where a page load took 1-2 s and a new session). A page left
# by such a link, Back or Forward keeps its scroll positions (the page's and the grid's box)
# under its address in sessionStorage, and gets them back whenever the browser returns to it.
# Middle clicks, clicks with a modifier key, "open in new tab" and copied addresses use the
# link's href as before.

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
  const position = () => {
    const box = pageBox();
    const inner = boxes().map((b) => [b.scrollTop, b.scrollLeft]);
    return { page: box ? box.scrollTop : 0, boxes: inner };
  };
  // the page shown, where it is scrolled: noted as it scrolls, so that a page left by Back or
  // Forward (the address has changed when the browser says so) is kept under its own address
  let shown = { at: here(), ...position() };
  let noting = false;
  const note = () => {
    if (noting) return;
    noting = true;
    requestAnimationFrame(() => { noting = false; shown = { at: here(), ...position() }; });
  };
  document.addEventListener("scroll", note, { capture: true, passive: true });
  const keep = (where) => {
    try { sessionStorage.setItem(KEY + where.at, JSON.stringify(where)); } catch (e) {}
  };
  let ours = false;  // the popstate dispatched by a link below: a new page, opened at its top
  window.addEventListener("popstate", () => {
    keep(shown);
    shown = { at: here(), page: 0, boxes: [] };
    if (ours) { ours = false; return; }
    let want;
    try { want = JSON.parse(sessionStorage.getItem(KEY + here()) || "null"); } catch (e) {}
    if (!want) return;
    const at = here();
    const start = performance.now();
    let ran = false;
    // once Streamlit has run the page again (its page box high enough, the grid's there)
    const step = () => {
      const now = performance.now();
      if (here() !== at || now - start > 10000) return;  // gone on, or never ran
      ran = ran || state() === "running";
      const box = pageBox();
      const found = boxes();
      const done = (ran || now - start > 1500) && state() !== "running";
      if (done && box && box.scrollHeight - box.clientHeight >= want.page
          && found.length >= want.boxes.length) {
        box.scrollTop = want.page;
        want.boxes.forEach((b, i) => { found[i].scrollTop = b[0]; found[i].scrollLeft = b[1]; });
        shown = { at, ...position() };
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
    shown = { at: here(), ...position() };
    history.pushState(null, "", to.href);
    ours = true;
    window.dispatchEvent(new PopStateEvent("popstate", { state: null }));
  });
})();""" % {"attr": ATTR, "scrollers": SCROLLERS}  # noqa: UP031 (the JS is full of braces)
