// Bundles a driver's compiled entry point (drivers/<name>/dist/main.js) into
// the folder that becomes /app in its image: ESM files for Node 24 side by
// side (main.mjs and its chunks), plus the data files the code reads at run
// time, copied where the bundled code looks for them.
//
// usage: node docker/bundle.mjs [--no-splitting] [--out <dir>] <driver>...
//   default out: docker/.cache/bundles/<driver>
//
// Code splitting keeps each `await import(...)` a separate chunk, so a driver's
// SDK is still read and compiled only when the first call needs it.
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { basename, dirname, extname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

// CommonJS dependencies bundled into ESM still call require() and read
// __filename/__dirname. Every output file sits in the bundle's root folder,
// so __bundleDir is that folder in every chunk.
const BANNER = [
  'import { createRequire as __bundleCreateRequire } from "node:module";',
  'import { fileURLToPath as __bundleFileURLToPath } from "node:url";',
  "const require = __bundleCreateRequire(import.meta.url);",
  'const __bundleDir = __bundleFileURLToPath(new URL(".", import.meta.url));',
  "const __filename = __bundleFileURLToPath(import.meta.url);",
  "const __dirname = __bundleDir;",
].join("\n");

/** `new URL("./file", import.meta.url)` with a literal path: a file an ES module reads next to itself. */
const URL_ASSET = /new URL\(\s*["'](\.{1,2}\/[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g;
/** `path.join(__dirname, "../x", "y")` with literal parts: a file a CommonJS module reads near itself. */
const DIRNAME_ASSET = /\b(?:join|resolve)\(\s*__dirname\s*((?:,\s*(["'])[^"'`]+\2\s*)+)\)/g;
/** Folder of the copied package files, for modules whose __dirname is rewritten. */
const ASSETS = "assets";

async function bundleDriver(name, outdir, splitting) {
  const entry = join(repoRoot, "drivers", name, "dist/main.js");
  if (!existsSync(entry)) {
    throw new Error(`${entry} is missing: build the driver first (pnpm turbo run build)`);
  }
  const started = performance.now();
  rmSync(outdir, { recursive: true, force: true });
  const packageFiles = new Map();
  const result = await build({
    entryPoints: { main: entry },
    outdir,
    absWorkingDir: repoRoot,
    bundle: true,
    splitting,
    format: "esm",
    platform: "node",
    target: "node24",
    outExtension: { ".js": ".mjs" },
    chunkNames: "[name]-[hash]",
    banner: { js: BANNER },
    minifySyntax: true,
    minifyWhitespace: true,
    keepNames: true,
    legalComments: "eof",
    metafile: true,
    logLevel: "warning",
    plugins: [nativeAddonsStayOut, dynamicImportsOfCommonJs, packageFilesNextToCode(packageFiles)],
  });

  const assets = [
    ...copyUrlAssets(result.metafile, outdir),
    ...copyPackageFiles(packageFiles, outdir),
  ];
  const files = Object.keys(result.metafile.outputs);
  const bytes = files.reduce((sum, file) => sum + statSync(join(repoRoot, file)).size, 0);
  const main = statSync(join(outdir, "main.mjs")).size;
  process.stdout.write(
    `bundle ${name}: ${relative(repoRoot, outdir)}: main.mjs ${kib(main)}, ` +
      `${files.length} .mjs files ${kib(bytes)} in all; data files: ${assets.join(", ")}; ` +
      `${Math.round(performance.now() - started)} ms\n`,
  );
}

/**
 * Native add-ons are optional speed-ups in the dependencies we ship (ssh2's
 * crypto binding, cpu-features), loaded inside try/catch with a JavaScript
 * fallback; the workspace installs them without their build scripts, so the
 * tests run the fallback. Leaving them out keeps the image the code tested
 * and free of compiled files: their require() fails and the fallback runs.
 */
const nativeAddonsStayOut = {
  name: "native-addons-stay-out",
  setup(build) {
    build.onResolve({ filter: /\.node$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/**
 * With code splitting, esbuild turns `await import("cjs-package")` into a
 * chunk whose only export is `default` (module.exports), while Node also
 * offers module.exports' properties as named exports; code written for Node,
 * such as `const { f } = await import("@grpc/proto-loader")` in the core,
 * then gets undefined. Such imports are sent to a small ESM module that
 * exports what Node would: `default` plus the names Node's own import of the
 * file yields (evaluated once here, at build time, exactly as Node does).
 */
const dynamicImportsOfCommonJs = {
  name: "dynamic-imports-of-commonjs",
  setup(build) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.kind !== "dynamic-import" || args.pluginData?.resolvingCommonJs) return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: { resolvingCommonJs: true },
      });
      if (resolved.errors.length > 0 || resolved.external || !isCommonJs(resolved.path)) {
        return undefined;
      }
      return { path: resolved.path, namespace: "commonjs-as-esm" };
    });
    build.onLoad({ filter: /.*/, namespace: "commonjs-as-esm" }, async (args) => {
      const namespace = await import(pathToFileURL(args.path).href);
      const names = Object.keys(namespace).filter(
        (name) => name !== "default" && /^[A-Za-z_$][\w$]*$/.test(name),
      );
      const lines = [
        `const exported = require(${JSON.stringify(args.path)});`,
        "export default exported;",
        ...names.map((name) => `export const ${name} = exported.${name};`),
      ];
      return { contents: lines.join("\n"), loader: "js", resolveDir: dirname(args.path) };
    });
  },
};

/**
 * esbuild's rule, not Node's: a file is ESM when it has import/export
 * statements (packages such as @smithy/* ship ESM under "module" conditions
 * without "type": "module"), else CommonJS.
 */
function isCommonJs(path) {
  const extension = extname(path);
  if (extension === ".mjs" || extension === ".json" || extension === ".node") return false;
  return !/^\s*(export\s|import\s*[\w*{"'])/m.test(readFileSync(path, "utf8"));
}

/**
 * A CommonJS module that reads a data file of its package through
 * `join(__dirname, "../../proto/x.proto")` (@grpc/reflection does) gets its
 * own __dirname: `assets/<package>/<its folder>` in the bundle, with the file
 * copied to the same relative place under `assets/<package>/`. References to
 * JavaScript files (worker scripts) are left alone: copying them unbundled
 * would not make them run; the core uses none (pino logs without transports).
 */
function packageFilesNextToCode(packageFiles) {
  return {
    name: "package-files-next-to-code",
    setup(build) {
      build.onLoad({ filter: /\.c?js$/ }, (args) => {
        const source = readFileSync(args.path, "utf8");
        if (!source.includes("__dirname") || !isCommonJs(args.path)) return undefined;
        const packageRoot = findPackageRoot(args.path);
        if (packageRoot === undefined) return undefined;
        const packageName = JSON.parse(
          readFileSync(join(packageRoot, "package.json"), "utf8"),
        ).name;
        const moduleDir = dirname(args.path);
        let found = false;
        for (const match of source.matchAll(DIRNAME_ASSET)) {
          const parts = [...match[1].matchAll(/(["'])([^"'`]+)\1/g)].map((part) => part[2]);
          const target = resolve(moduleDir, ...parts);
          // Scripts and other platforms' binaries (ssh2's pagent.exe) are no data.
          if (/\.([cm]?js|exe|dll|node)$/.test(target) || !existsSync(target)) continue;
          if (!target.startsWith(packageRoot + sep)) {
            throw new Error(`${args.path} reads ${target}, outside its package ${packageRoot}`);
          }
          packageFiles.set(target, join(ASSETS, packageName, relative(packageRoot, target)));
          found = true;
        }
        if (!found) return undefined;
        const ownDir = join(ASSETS, packageName, relative(packageRoot, moduleDir));
        const prologue =
          `var __dirname = __bundleDir + ${JSON.stringify(ownDir)}, ` +
          `__filename = __dirname + ${JSON.stringify(`/${basename(args.path)}`)};\n`;
        return { contents: prologue + source, loader: "js", resolveDir: moduleDir };
      });
    },
  };
}

function findPackageRoot(file) {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  return undefined;
}

function copyPackageFiles(packageFiles, outdir) {
  for (const [from, to] of packageFiles) {
    mkdirSync(dirname(join(outdir, to)), { recursive: true });
    cpSync(from, join(outdir, to), { recursive: true });
  }
  return [...packageFiles.values()];
}

/**
 * Copies every file an ES module locates with `new URL("./x", import.meta.url)`
 * (the core's descriptor set for gRPC reflection) to the same place relative
 * to the output file that holds the module's code.
 */
function copyUrlAssets(metafile, outdir) {
  const copied = new Set();
  for (const [outputPath, output] of Object.entries(metafile.outputs)) {
    const chunkDir = dirname(join(repoRoot, outputPath));
    for (const input of Object.keys(output.inputs)) {
      // Modules made by a plugin ("namespace:path") read no files themselves.
      if (/^[\w-]+:/.test(input) || !/\.[cm]?js$/.test(input)) continue;
      const inputPath = join(repoRoot, input);
      for (const match of readFileSync(inputPath, "utf8").matchAll(URL_ASSET)) {
        const from = resolve(dirname(inputPath), match[1]);
        const to = resolve(chunkDir, match[1]);
        if (!existsSync(from)) {
          throw new Error(
            `${input} reads ${match[1]} next to itself, but ${from} does not exist; build that package first`,
          );
        }
        if (!to.startsWith(outdir + sep)) {
          throw new Error(`${input} reads ${match[1]}, which would land outside ${outdir}`);
        }
        mkdirSync(dirname(to), { recursive: true });
        copyFileSync(from, to);
        copied.add(relative(outdir, to));
      }
    }
  }
  return [...copied];
}

function kib(bytes) {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    "no-splitting": { type: "boolean", default: false },
    out: { type: "string" },
  },
});
if (positionals.length === 0 || (values.out !== undefined && positionals.length > 1)) {
  process.stderr.write(
    "usage: node docker/bundle.mjs [--no-splitting] [--out <dir>] <driver>...\n",
  );
  process.exit(2);
}
for (const name of positionals) {
  const outdir = resolve(values.out ?? join(repoRoot, "docker/.cache/bundles", name));
  await bundleDriver(name, outdir, !values["no-splitting"]);
}
