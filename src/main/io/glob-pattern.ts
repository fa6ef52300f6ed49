/**
 * Glob patterns without regular expressions, so no pattern can make matching slow.
 *
 * A pattern is first expanded at its braces (`{a,b}`, nested, also across `/`), then each path
 * segment is compiled to tokens: a literal character, `?` (any one character), a class (`[abc]`,
 * `[a-z]`, `[!abc]` or `[^abc]`), or `*` (any run of characters). A segment is matched with the
 * classic two-pointer walk that, on a mismatch, only ever moves back to just after the last `*`
 * seen: O(length of name × length of segment) at worst, where a backtracking regular expression
 * is exponential in the number of stars (`a*a*a*a*a*a*a*a*b` against 60 `a`s took 15 s).
 *
 * Anything else that looks like syntax raises a SyntaxError rather than matching nothing:
 * an unclosed `[` or `{`, POSIX classes (`[[:alpha:]]`) and extended globs (`@(…)`, `!(…)`, …).
 */

const MAX_EXPANSIONS = 1024;

type Token =
  | { readonly kind: 'char'; readonly char: string }
  | { readonly kind: 'any' }
  | { readonly kind: 'star' }
  | { readonly kind: 'class'; readonly negated: boolean; readonly ranges: ReadonlyArray<readonly [number, number]> };

/** One compiled path segment. `literal` is set when it has no magic (matched by name lookup). */
export interface SegmentPattern {
  readonly literal: string | undefined;
  readonly tokens: readonly Token[];
}

/** Every brace alternative of `pattern` (`src/{a,b}/*.ts` → two patterns). */
export function expandBraces(pattern: string): string[] {
  const out: string[] = [];
  expandInto(pattern, out);
  return out;
}

function expandInto(pattern: string, out: string[]): void {
  const open = findBraceGroup(pattern, 0);
  if (open === undefined) {
    if (out.length >= MAX_EXPANSIONS) throw new RangeError(`glob: the pattern expands to more than ${MAX_EXPANSIONS} patterns`);
    out.push(pattern);
    return;
  }
  const { start, end, commas } = open;
  const prefix = pattern.slice(0, start);
  const suffix = pattern.slice(end + 1);
  const bounds = [start, ...commas, end];
  for (let i = 0; i + 1 < bounds.length; i++) {
    expandInto(prefix + pattern.slice(bounds[i]! + 1, bounds[i + 1]) + suffix, out);
  }
}

/** The first `{…}` with a top-level comma, from `from`; braces without a comma stay literal. */
function findBraceGroup(pattern: string, from: number): { start: number; end: number; commas: number[] } | undefined {
  for (let i = from; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '[') {
      i = classEnd(pattern, i);
      continue;
    }
    if (c !== '{') continue;
    let depth = 0;
    const commas: number[] = [];
    let j = i;
    for (; j < pattern.length; j++) {
      const d = pattern[j];
      if (d === '\\') j++;
      else if (d === '[') j = classEnd(pattern, j);
      else if (d === '{') depth++;
      else if (d === '}' && --depth === 0) break;
      else if (d === ',' && depth === 1) commas.push(j);
    }
    if (j >= pattern.length) throw new SyntaxError(`glob: unclosed '{' at ${i} in ${JSON.stringify(pattern)}`);
    if (commas.length > 0) return { start: i, end: j, commas };
    // `{x}` is literal; look for a group inside it or after it.
  }
  return undefined;
}

/** The index of the `]` closing the class that opens at `start`. */
function classEnd(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === '!' || pattern[i] === '^') i++;
  if (pattern[i] === ']') i++; // a leading ] is a member
  for (; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === ']') return i;
  }
  throw new SyntaxError(`glob: unclosed '[' at ${start} in ${JSON.stringify(pattern)}`);
}

/** Compiles one segment (no `/`, braces already expanded). `**` is handled by the walker. */
export function compileSegment(segment: string): SegmentPattern {
  if (/[@!+?*]\(/.test(segment)) {
    throw new SyntaxError(`glob: extended patterns such as @(…) or !(…) are not supported: ${JSON.stringify(segment)}`);
  }
  const tokens: Token[] = [];
  let magic = false;
  let literal = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '\\' && i + 1 < segment.length) {
      const next = segment[++i]!;
      tokens.push({ kind: 'char', char: next });
      literal += next;
    } else if (c === '*') {
      magic = true;
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') {
      magic = true;
      tokens.push({ kind: 'any' });
    } else if (c === '[') {
      magic = true;
      const end = classEnd(segment, i);
      tokens.push(compileClass(segment.slice(i + 1, end), segment));
      i = end;
    } else {
      // A code point may take two UTF-16 units: keep it whole, as names are walked by code point.
      const cp = segment.codePointAt(i)!;
      const char = String.fromCodePoint(cp);
      i += char.length - 1;
      tokens.push({ kind: 'char', char });
      literal += char;
    }
  }
  return { literal: magic ? undefined : literal, tokens };
}

function compileClass(body: string, segment: string): Token {
  let i = 0;
  const negated = body[0] === '!' || body[0] === '^';
  if (negated) i++;
  if (body.startsWith('[:', i) || body.includes('[:')) {
    throw new SyntaxError(`glob: POSIX character classes such as [[:alpha:]] are not supported: ${JSON.stringify(segment)}`);
  }
  const chars = Array.from(body.slice(i).replace(/\\(.)/gu, '$1'));
  const ranges: Array<[number, number]> = [];
  for (let k = 0; k < chars.length; k++) {
    const from = chars[k]!.codePointAt(0)!;
    if (chars[k + 1] === '-' && k + 2 < chars.length) {
      const to = chars[k + 2]!.codePointAt(0)!;
      if (to < from) throw new SyntaxError(`glob: bad range ${chars[k]}-${chars[k + 2]} in ${JSON.stringify(segment)}`);
      ranges.push([from, to]);
      k += 2;
    } else {
      ranges.push([from, from]);
    }
  }
  return { kind: 'class', negated, ranges };
}

function tokenMatches(token: Token, char: string): boolean {
  switch (token.kind) {
    case 'char':
      return token.char === char;
    case 'any':
      return true;
    case 'class': {
      const cp = char.codePointAt(0)!;
      let inside = false;
      for (const [from, to] of token.ranges) {
        if (cp >= from && cp <= to) {
          inside = true;
          break;
        }
      }
      return inside !== token.negated;
    }
    case 'star':
      return false;
  }
}

/** Whether `name` (one path segment) matches: linear walk with one resume point (see top). */
export function matchSegment(pattern: SegmentPattern, name: string): boolean {
  if (pattern.literal !== undefined) return pattern.literal === name;
  const tokens = pattern.tokens;
  const chars = Array.from(name);
  let t = 0;
  let n = 0;
  let starT = -1;
  let starN = 0;
  while (n < chars.length) {
    const token = tokens[t];
    if (token !== undefined && token.kind === 'star') {
      starT = t++;
      starN = n;
    } else if (token !== undefined && tokenMatches(token, chars[n]!)) {
      t++;
      n++;
    } else if (starT >= 0) {
      // Let the last star take one more character and retry from just after it.
      t = starT + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === 'star') t++;
  return t === tokens.length;
}
