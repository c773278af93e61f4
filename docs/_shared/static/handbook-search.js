// Chinese queries are usually typed without spaces (优雅关闭), while Sphinx's
// search splits queries on spaces and punctuation only and then needs every
// term to be in its index. Split each run of Chinese characters into the
// index's own terms (those jieba produced at build time) before searching.
// Latin words and exact error messages pass through unchanged. Results whose
// title holds more of the query's words rank higher.
(() => {
  const HAN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+/gu;
  const HAS_HAN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/u;
  const MAX_TERM = 12;
  const split = (query) =>
    query
      .split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu)
      .filter((term) => term);

  let known = null;
  let knownFor = null;
  const indexTerms = () => {
    const index = typeof Search !== "undefined" ? Search._index : null;
    if (!index) return null;
    if (knownFor !== index) {
      known = new Set([...Object.keys(index.terms || {}), ...Object.keys(index.titleterms || {})]);
      knownFor = index;
    }
    return known;
  };

  // Fewest characters left unmatched, then fewest pieces (longest terms).
  const segment = (run, terms) => {
    const n = run.length;
    const best = Array.from({ length: n + 1 }, () => null);
    best[0] = { missed: 0, pieces: 0, words: [] };
    const better = (a, b) =>
      !b || a.missed < b.missed || (a.missed === b.missed && a.pieces < b.pieces);
    for (let i = 0; i < n; i += 1) {
      const here = best[i];
      if (!here) continue;
      const skip = { missed: here.missed + 1, pieces: here.pieces, words: here.words };
      if (better(skip, best[i + 1])) best[i + 1] = skip;
      for (let j = Math.min(n, i + MAX_TERM); j >= i + 2; j -= 1) {
        const word = run.slice(i, j);
        if (!terms.has(word)) continue;
        const take = { missed: here.missed, pieces: here.pieces + 1, words: [...here.words, word] };
        if (better(take, best[j])) best[j] = take;
      }
    }
    const words = best[n].words;
    return words.length ? words : [run];
  };

  const handbookSplitQuery = (query) => {
    const terms = indexTerms();
    const out = [];
    for (const token of split(query)) {
      if (!terms || !HAS_HAN.test(token)) {
        out.push(token);
        continue;
      }
      let last = 0;
      for (const match of token.matchAll(HAN)) {
        if (match.index > last) out.push(token.slice(last, match.index));
        out.push(...(terms.has(match[0]) ? [match[0]] : segment(match[0], terms)));
        last = match.index + match[0].length;
      }
      if (last < token.length) out.push(token.slice(last));
    }
    return out;
  };

  // Sphinx scores a page by its best-matching word alone, so every page
  // whose title holds one of the words ties. Rank higher the pages whose
  // title holds more of the query's words, and is mostly made of them.
  let queryWords = [];
  const rememberWords = (words) => {
    const ignore = typeof stopwords !== "undefined" ? stopwords : new Set();
    queryWords = [...new Set(words.map((word) => word.toLowerCase()))].filter(
      (word) => word.length > 1 && !ignore.has(word),
    );
    return words;
  };
  const titleBonus = (title) => {
    if (!title || !queryWords.length) return 0;
    const text = title.toLowerCase();
    let found = 0;
    let covered = 0;
    for (const word of queryWords) {
      if (text.includes(word)) {
        found += 1;
        covered += word.length;
      }
    }
    const letters = text.replace(/[\s\p{P}\p{S}]/gu, "").length || 1;
    return 5 * found + Math.round((10 * covered) / letters);
  };
  if (typeof Scorer !== "undefined") {
    const ownScore = Scorer.score;
    Scorer.score = (result) => {
      const score = ownScore ? ownScore(result) : result[4];
      return score + titleBonus(result[1]);
    };
  }

  window.splitQuery = (query) => rememberWords(handbookSplitQuery(query));
  window.handbookSplitQuery = handbookSplitQuery;
})();
