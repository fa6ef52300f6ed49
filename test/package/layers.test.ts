// The source's layering, checked from its import statements (types included): no file imports
// another that imports it back; src/shared imports nothing of ours outside itself; src/main never
// imports src/worker; only the src/remote.ts entry point imports src/remote.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const src = join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Each file's relative imports and re-exports, as paths under src (without the .js suffix). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = sourceFiles(src);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const targets: string[] = [];
    for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/g)) {
      targets.push(relative(src, normalize(join(dirname(file), match[1]!.replace(/\.js$/, '.ts')))));
    }
    graph.set(relative(src, file), targets);
  }
  return graph;
}

/** The strongly connected components with more than one file (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = importGraph();

test('the import graph was read (a check that sees no imports would pass vacuously)', () => {
  assert.ok(graph.size > 50, `${graph.size} source files`);
  assert.ok((graph.get(join('main', 'core', 'runner.ts')) ?? []).includes(join('main', 'core', 'task.ts')));
});

test('no import cycles anywhere in src, type-only imports included', () => {
  assert.equal(cycles(graph), []);
});

test('the cycle check finds a cycle when there is one', () => {
  const withCycle = new Map(graph);
  withCycle.set(join('main', 'core', 'task.ts'), [...graph.get(join('main', 'core', 'task.ts'))!, join('main', 'core', 'runner.ts')]);
  assert.ok(cycles(withCycle).some((component) => component.includes(join('main', 'core', 'task.ts'))));
});

test('src/shared imports nothing outside itself; src/main never imports src/worker; only src/remote.ts imports src/remote', () => {
  for (const [file, targets] of graph) {
    for (const target of targets) {
      if (file.startsWith('shared')) assert.ok(target.startsWith('shared'), `${file} imports ${target}`);
      if (file.startsWith('main')) assert.not.ok(target.startsWith('worker'), `${file} imports ${target}`);
      if (target.startsWith('remote')) assert.ok(file.startsWith('remote'), `${file} imports ${target}`);
    }
  }
});

test.run();
