// Builds a Wasp module from AssemblyScript: compiles the entry file with asc, then writes the
// metadata from the config file into the module's `wasp` custom section, after checking it
// against the module's exports.
//
//   node build.mjs <entry.ts> <config.mjs> <out.wasm>
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

const [entry, configPath, out] = process.argv.slice(2);
if (!entry || !configPath || !out) {
  console.error("usage: node build.mjs <entry.ts> <config.mjs> <out.wasm>");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(dirname(resolve(out)), { recursive: true });

const { error, stderr } = await asc.main([
  entry,
  "--outFile", out,
  "--optimizeLevel", "3",
  "--shrinkLevel", "0",
  // No garbage collector: a module allocates nothing while it plays.
  "--runtime", "stub",
  // Wasp allows no `env.abort` import: failed checks trap instead.
  // (asc names a file's functions by its path from here, without the extension.)
  "--use", `abort=${relative(process.cwd(), resolve(here, "assembly/wasp")).replace(/\\/g, "/")}/trap`,
]);
if (error) {
  console.error(stderr.toString());
  process.exit(1);
}

const config = (await import(pathToFileURL(resolve(configPath)).href)).default;
const bytes = readFileSync(out);
const exports = exportsOf(bytes);

// The checks Wasp would make at load, made here with the file and line still at hand.
const problems = [];
// An address is a byte offset or the name of an exported global holding it (ABI §9).
const global = (at) => typeof at === "number" || exports.get(at) === 3;
const func = (name) => exports.get(name) === 0;
if (!func("dsp")) problems.push("the module exports no `dsp` function");
for (const s of config.state ?? []) {
  if (!global(s.at)) problems.push(`state "${s.name}": no exported global "${s.at}" (export const ${s.at}: usize = memory.data(...))`);
  if (s.kind === "ring" && !global(s.cursor)) problems.push(`state "${s.name}": no exported global "${s.cursor}" for its cursor`);
}
if ((config.params ?? []).length > 0 && !func("wasp_set_param")) {
  problems.push("parameters are declared but `wasp_set_param` is not exported");
}
if (problems.length > 0) {
  console.error(`${configPath}:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}

writeFileSync(out, Buffer.concat([bytes, customSection("wasp", JSON.stringify(config))]));
console.log(`${out}: ${bytes.length} bytes of code, metadata for "${config.name}"`);

/** Export names and kinds (0 function, 1 table, 2 memory, 3 global) of a wasm binary. */
function exportsOf(wasm) {
  let at = 8;
  const leb = () => {
    let value = 0, shift = 0, byte;
    do {
      byte = wasm[at++];
      value |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return value >>> 0;
  };
  const found = new Map();
  while (at < wasm.length) {
    const id = wasm[at++];
    const size = leb();
    const end = at + size;
    if (id === 7) {
      for (let n = leb(); n > 0; n--) {
        const len = leb();
        const name = wasm.subarray(at, at + len).toString("utf8");
        at += len;
        const kind = wasm[at++];
        leb();
        found.set(name, kind);
      }
    }
    at = end;
  }
  return found;
}

/** A custom section: id 0, size, name, payload. */
function customSection(name, text) {
  const uleb = (n) => {
    const out = [];
    do {
      let byte = n & 0x7f;
      n >>>= 7;
      if (n !== 0) byte |= 0x80;
      out.push(byte);
    } while (n !== 0);
    return Buffer.from(out);
  };
  const nameBytes = Buffer.from(name, "utf8");
  const payload = Buffer.concat([uleb(nameBytes.length), nameBytes, Buffer.from(text, "utf8")]);
  return Buffer.concat([Buffer.from([0]), uleb(payload.length), payload]);
}
