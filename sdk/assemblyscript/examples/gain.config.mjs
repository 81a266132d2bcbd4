import { module, param, scalar } from "../wasp.mjs";

export default module({
  name: "Gain (AssemblyScript)",
  author: "Wasp examples",
  version: "1.0.0",
  channels: "stereo",
  params: [param("gain", "Gain", { min: -60, max: 12, default: -6, unit: "dB" })],
  state: [scalar("gain")],
});
