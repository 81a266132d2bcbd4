// The module's metadata: build.mjs writes it into the module's `wasp` section and checks it
// against the module (every state name must be an export, and so on).
import { module, param, array } from "./wasp.mjs";

export default module({
  name: "One-pole low-pass 1 kHz (AssemblyScript)",
  author: "Wasp examples",
  version: "1.0.0",
  channels: "stereo",
  params: [param("cutoff", "Cutoff", { min: 20, max: 20000, default: 1000, unit: "Hz", scale: "log" })],
  state: [array("z1", 2)],
});
