// Keep the reader's place when switching language: the explicit targets
// (section anchors) are shared by both languages.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-handbook-switch]");
  if (link && window.location.hash) {
    event.preventDefault();
    window.location.href = link.getAttribute("href") + window.location.hash;
  }
});
