// The documentation: every TypeScript block in the README and the guides type-checks against the
// built package, and the built site (`npm run docs`) has no broken links.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as triode from 'triode';
import * as testing from 'triode/testing';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const documents = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

function run(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd, timeout: 120_000, maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * Each ```ts block becomes a module of its own. A block may use triode's names without importing
 * them (the guides show fragments); those imports are added, and nothing else: a name the block
 * neither imports nor defines fails the check.
 */
function blockModule(code: string, origin: string): string {
  const imported = new Set(
    [...code.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'triode(?:\/testing|\/worker)?'/g)].flatMap((m) =>
      m[1]!.split(',').map((s) => s.trim().replace(/^type\s+/, '').split(/\s+as\s+/).pop()!).filter(Boolean),
    ),
  );
  const defines = (name: string) => new RegExp(`(const|let|function|class|var|interface|type)\\s+${name}\\b|\\[\\s*${name}\\s*[,\\]]|,\\s*${name}\\s*\\]`).test(code);
  const prelude: string[] = [];
  for (const [specifier, names] of [['triode', Object.keys(triode)], ['triode/testing', Object.keys(testing)]] as const) {
    const needed = names.filter((name) => !imported.has(name) && !defines(name) && new RegExp(`\\b${name}\\b`).test(code));
    if (needed.length > 0) prelude.push(`import { ${needed.join(', ')} } from '${specifier}';`);
  }
  return `// ${origin}\n${prelude.join('\n')}\n${code}\nexport {};\n`;
}

test('every TypeScript block in the README and the guides type-checks against the built package', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'triode-docs-'));
  try {
    mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
    symlinkSync(root, join(dir, 'node_modules', 'triode'), 'dir');
    symlinkSync(join(root, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', types: ['node'], lib: ['ES2022', 'DOM'] },
        include: ['*.ts'],
      }),
    );
    let count = 0;
    for (const document of documents) {
      const text = readFileSync(join(root, document), 'utf8');
      for (const match of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
        const line = text.slice(0, match.index).split('\n').length;
        writeFileSync(join(dir, `block-${String(count++).padStart(3, '0')}.ts`), blockModule(match[1]!, `${document}:${line}`));
      }
    }
    assert.ok(count >= 20, `expected the guides' code blocks, found ${count}`);
    await run([join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], dir).catch((error: Error) => {
      // Name each failing block by where it is in the docs.
      const named = error.message.replace(/block-(\d+)\.ts/g, (whole) => {
        const first = readFileSync(join(dir, whole), 'utf8').split('\n')[0]!.slice(3);
        return `${whole} (${first})`;
      });
      throw new Error(`code blocks in the docs do not type-check:\n${named}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the built site has every page and no broken links', async () => {
  await run([join(root, 'scripts', 'build-docs.mjs')], root);
  const site = join(root, 'site');
  const pages = readdirSync(site).filter((f) => f.endsWith('.html'));
  for (const page of ['index.html', 'tutorial.html', 'cancellation.html', 'workers.html', 'shared-channels.html', 'networking.html',
    'files-and-processes.html', 'testing.html', 'benchmarks.html', 'api.html', 'architecture.html', 'changelog.html']) {
    assert.ok(pages.includes(page), `${page} was built`);
  }
  assert.ok(existsSync(join(site, 'api', 'index.html')), 'the generated API reference was built');
  const broken: string[] = [];
  const check = (file: string) => {
    const html = readFileSync(file, 'utf8');
    for (const [, href] of html.matchAll(/href="([^"]+)"/g)) {
      if (/^(https?:|mailto:|#|data:)/.test(href!)) continue;
      const target = join(dirname(file), decodeURI(href!.split('#')[0]!));
      if (!existsSync(target)) broken.push(`${file.slice(site.length + 1)} → ${href}`);
    }
  };
  for (const page of pages) check(join(site, page));
  for (const page of readdirSync(join(site, 'api')).filter((f) => f.endsWith('.html'))) check(join(site, 'api', page));
  assert.equal(broken, [], `broken links:\n${broken.join('\n')}`);
  const benchmarks = readFileSync(join(site, 'benchmarks.html'), 'utf8');
  assert.match(benchmarks, /<svg[^>]*role="img"/, 'the benchmarks page has its charts');
});

test.run();
