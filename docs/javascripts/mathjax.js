// MathJax 3 for pymdownx.arithmatex (generic mode) and for the rendered notebooks.
// Only the spans and blocks that arithmatex marks, and the notebooks' markdown cells
// (class jp-RenderedMarkdown, which keep their $...$), are typeset: a dollar sign
// anywhere else is left alone.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown",
  },
};

// Material's instant navigation swaps pages without a reload: typeset each new page.
document$.subscribe(() => {
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});
