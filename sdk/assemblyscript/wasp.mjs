// Helpers for wasp.config.mjs: a module's metadata as function calls, checked as they are
// made, so a typo is an error at build time rather than a refusal when Wasp loads the module.

/** The module: name, author, version, channels ("mono" or "stereo"), and optionally latency
 * (samples), tail (seconds or "infinite"), params and state. */
export function module(fields) {
  const known = ["name", "author", "version", "channels", "latency", "tail", "params", "state"];
  for (const key of Object.keys(fields)) {
    if (!known.includes(key)) throw new Error(`module(): unknown field "${key}"`);
  }
  if (typeof fields.name !== "string" || fields.name === "") {
    throw new Error("module(): a name is required");
  }
  if (!["mono", "stereo"].includes(fields.channels)) {
    throw new Error('module(): channels is "mono" or "stereo"');
  }
  if (fields.latency !== undefined && !(Number.isInteger(fields.latency) && fields.latency >= 0)) {
    throw new Error("module(): latency is a whole number of samples");
  }
  if (fields.tail !== undefined && fields.tail !== "infinite" && !(fields.tail >= 0)) {
    throw new Error('module(): tail is seconds (0 or more) or "infinite"');
  }
  const names = new Set();
  for (const s of fields.state ?? []) {
    if (names.has(s.name)) throw new Error(`two pieces of state are named "${s.name}"`);
    names.add(s.name);
  }
  const ids = new Set();
  for (const p of fields.params ?? []) {
    if (ids.has(p.id)) throw new Error(`two parameters have the id "${p.id}"`);
    ids.add(p.id);
  }
  if (ids.size > 64) throw new Error("at most 64 parameters");
  return { abi: 1, ...fields };
}

/** A parameter: `id` (stable, for automation), `name`, and { min, max, default, unit,
 * scale: "linear" | "log", about: "what it does", choices: [["Sine", 0], ["Saw", 1]] }. Its index in `params` is
 * what wasp_set_param receives; a parameter with choices only ever receives their values. */
export function param(id, name, { min, max, default: value, unit, scale, about, choices }) {
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new Error(`param("${id}"): letters, digits, _ . -`);
  for (const [k, v] of Object.entries({ min, max, default: value })) {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new Error(`param("${id}"): ${k} must be a number`);
    }
  }
  if (!(min < max) || value < min || value > max) {
    throw new Error(`param("${id}"): needs min < max and the default between them`);
  }
  if (typeof name !== "string" || name === "") throw new Error(`param("${id}"): a name is required`);
  if (scale !== undefined && scale !== "linear" && scale !== "log") {
    throw new Error(`param("${id}"): scale is "linear" or "log"`);
  }
  if (scale === "log" && min <= 0) throw new Error(`param("${id}"): a log scale needs min > 0`);
  const p = { id, name, min, max, default: value };
  if (unit !== undefined) p.unit = unit;
  if (scale !== undefined) p.scale = scale;
  if (about !== undefined) {
    if (typeof about !== "string") throw new Error(`param("${id}"): about is a sentence`);
    p.about = about;
  }
  if (choices !== undefined) {
    p.choices = choices.map(([choiceName, choiceValue]) => ({ name: choiceName, value: choiceValue }));
    // The checks Wasp makes at load (docs/ABI.md §7).
    if (p.choices.length < 2 || p.choices.length > 128) {
      throw new Error(`param("${id}"): 2 to 128 choices`);
    }
    p.choices.forEach((c, i) => {
      if (typeof c.name !== "string" || c.name.trim() === "") {
        throw new Error(`param("${id}"): choice ${i + 1} has no name`);
      }
      if (typeof c.value !== "number" || c.value < min || c.value > max) {
        throw new Error(`param("${id}"): choice "${c.name}" is not a number inside ${min}..${max}`);
      }
      const earlier = p.choices.slice(0, i);
      if (earlier.some((d) => d.value === c.value)) {
        throw new Error(`param("${id}"): two choices have the value ${c.value}`);
      }
      if (earlier.some((d) => d.name.trim().toLowerCase() === c.name.trim().toLowerCase())) {
        throw new Error(`param("${id}"): two choices are named "${c.name}"`);
      }
    });
    if (!p.choices.some((c) => c.value === value)) {
      throw new Error(`param("${id}"): the default must be one of the choices' values`);
    }
  }
  return p;
}

/** `len` 4-byte values of state at the exported global `name`
 * (`export const name: usize = memory.data(len * 4, 4)`). */
export function array(name, len) {
  return { name, kind: "array", at: name, len };
}

/** One 4-byte value of state at the exported global `name`. */
export function scalar(name) {
  return { name, kind: "scalar", at: name };
}

/** A ring buffer of `len` samples at the exported global `name`, with its write index (an
 * i32) at the exported global `cursor`. */
export function ring(name, len, cursor) {
  return { name, kind: "ring", at: name, len, cursor };
}
