// Language switch: land on the same page in the other language, at the same
// section. Explicit targets ((label)= in the sources) are shared by both
// languages; the page lists its own in <meta name="handbook-targets">.
(() => {
  const HEADER_ALLOWANCE = 96; // px under the top of the viewport

  const sharedTargets = () => {
    const meta = document.querySelector('meta[name="handbook-targets"]');
    return new Set(meta ? meta.content.split(/\s+/).filter(Boolean) : []);
  };

  // The section the reader is looking at: the one named by the URL's hash,
  // or else the last section that starts above the top of the viewport.
  const currentElement = () => {
    const hash = decodeURIComponent(window.location.hash.slice(1));
    const named = hash && document.getElementById(hash);
    if (named) return named;
    if (window.scrollY < HEADER_ALLOWANCE) return null;
    let current = null;
    for (const section of document.querySelectorAll("article section[id]")) {
      if (section.getBoundingClientRect().top <= HEADER_ALLOWANCE) current = section;
      else break;
    }
    return current;
  };

  const sharedAnchor = () => {
    const shared = sharedTargets();
    for (let node = currentElement(); node; node = node.parentElement) {
      if (node.id && shared.has(node.id)) return node.id;
    }
    return "";
  };

  // Rewrite the link just before the browser follows it, so that
  // middle-click and "open in new tab" keep the place too.
  const update = (event) => {
    const link = event.target.closest && event.target.closest("a[data-handbook-switch]");
    if (!link) return;
    const base = link.getAttribute("href").split("#")[0];
    const anchor = sharedAnchor();
    link.setAttribute("href", anchor ? `${base}#${anchor}` : base);
  };
  for (const type of ["click", "auxclick", "contextmenu"]) {
    document.addEventListener(type, update, true);
  }
})();
