//! The `wasp` custom section: what a module says about itself, readable without running it.

use serde::{Deserialize, Serialize};

use super::error::LoadError;

/// Name of the custom section that carries the metadata JSON.
pub const SECTION_NAME: &str = "wasp";

/// Newest contract version this build of Wasp implements.
pub const CONTRACT_VERSION: u32 = 1;

/// Metadata a module declares in its `wasp` custom section (UTF-8 JSON). Every field is optional;
/// a module without the section gets [`Metadata::default`] and contract version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metadata {
    /// The contract version the module was written against; a newer one than
    /// [`CONTRACT_VERSION`] is refused rather than run with a different meaning.
    pub abi: u32,
    pub name: String,
    pub author: String,
    pub version: String,
    /// Declared channel layout. Must agree with the shape of `dsp` when given.
    pub channels: Option<Channels>,
    /// Processing latency in samples, reported to the host.
    pub latency: u32,
    /// How long the module rings after its input stops, reported to the host so it does not
    /// cut delay and reverb tails.
    pub tail: Tail,
    pub params: Vec<ParamSpec>,
    /// Named regions of linear memory that carry DSP state across a live swap.
    pub state: Vec<StateRegion>,
    /// Names of exported mutable globals that carry DSP state across a live swap.
    pub globals: Vec<String>,
    /// Carry the declared state *and* crossfade from the old module: for state whose meaning
    /// depends on constants a new version may change (a direct-form filter's memory), where a
    /// plain carry would start the new module with a jump.
    pub blend: bool,
}

impl Default for Metadata {
    fn default() -> Self {
        Self {
            abi: CONTRACT_VERSION,
            name: String::new(),
            author: String::new(),
            version: String::new(),
            channels: None,
            latency: 0,
            tail: Tail::default(),
            params: Vec::new(),
            state: Vec::new(),
            globals: Vec::new(),
            blend: false,
        }
    }
}

/// A module's tail: seconds (a number, 0 for none) or `"infinite"` (it may ring forever, like a
/// delay with full feedback, or makes sound with no input, like an oscillator).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Tail {
    Seconds(f32),
    Endless(Endless),
}

/// The word `"infinite"` in the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Endless {
    #[serde(rename = "infinite")]
    Infinite,
}

impl<'de> Deserialize<'de> for Tail {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(f32),
            Word(String),
        }
        const HELP: &str = "\"tail\" must be a number of seconds, or \"infinite\"";
        match Raw::deserialize(deserializer).map_err(|_| D::Error::custom(HELP))? {
            Raw::Seconds(s) => Ok(Tail::Seconds(s)),
            Raw::Word(w) if w == "infinite" => Ok(Tail::Endless(Endless::Infinite)),
            Raw::Word(w) => Err(D::Error::custom(format!("{HELP}, not \"{w}\""))),
        }
    }
}

impl Default for Tail {
    fn default() -> Self {
        Tail::Seconds(0.0)
    }
}

impl Tail {
    /// The tail in samples at `sample_rate`; `None` if it is infinite.
    pub fn samples(self, sample_rate: f32) -> Option<u32> {
        match self {
            Tail::Seconds(s) => Some((s.max(0.0) as f64 * sample_rate as f64).ceil() as u32),
            Tail::Endless(_) => None,
        }
    }
}

/// A declared channel layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    Mono,
    Stereo,
}

impl Channels {
    /// Number of audio channels in this layout.
    pub fn count(self) -> usize {
        match self {
            Channels::Mono => 1,
            Channels::Stereo => 2,
        }
    }
}

/// One parameter a module accepts through `wasp_set_param` (contract v1, wired up by the host
/// integration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Stable identifier: hosts store automation against it, so it must never change meaning.
    pub id: String,
    pub name: String,
    pub min: f32,
    pub max: f32,
    pub default: f32,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub scale: Scale,
    /// For a parameter that takes only some values (a waveform, a mode, an on/off switch):
    /// each with its name, in the order the host and the editor list them. Other values snap
    /// to the nearest of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// What the parameter does, in a sentence: the editor shows it when the pointer rests on
    /// the parameter's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub about: String,
}

/// One value of a parameter with [`ParamSpec::choices`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub name: String,
    pub value: f32,
}

/// Most choices one parameter may have.
pub const MAX_CHOICES: usize = 128;

impl ParamSpec {
    /// `plain` as the module may receive it: inside the range, and one of the choices if the
    /// parameter has them.
    ///
    /// Never panics, even on a spec that [`Metadata::parse`] would refuse (`min > max`): the
    /// Faust adapter and the audio thread call it.
    pub fn limit(&self, plain: f32) -> f32 {
        let v = if plain.is_nan() {
            self.default
        } else {
            plain.max(self.min).min(self.max)
        };
        match self.nearest_choice(v) {
            Some(i) => self.choices[i].value,
            None => v,
        }
    }

    /// The index of the choice nearest to `plain`, for a parameter with choices.
    fn nearest_choice(&self, plain: f32) -> Option<usize> {
        (0..self.choices.len()).min_by(|&a, &b| {
            let da = (self.choices[a].value - plain).abs();
            let db = (self.choices[b].value - plain).abs();
            da.total_cmp(&db)
        })
    }

    /// Where `plain` lies in the range, from 0 to 1, on the parameter's scale.
    pub fn normalize(&self, plain: f32) -> f32 {
        // Choices are spread evenly along the host's range, in their order.
        if let Some(i) = self.nearest_choice(plain) {
            let last = self.choices.len() - 1;
            return if last == 0 {
                0.0
            } else {
                i as f32 / last as f32
            };
        }
        let v = plain.max(self.min).min(self.max);
        let n = match self.scale {
            Scale::Linear => (v - self.min) / (self.max - self.min),
            Scale::Log => (v / self.min).ln() / (self.max / self.min).ln(),
        };
        if n.is_finite() {
            n.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// The plain value at `normalized` (0 to 1) along the parameter's scale.
    pub fn denormalize(&self, normalized: f32) -> f32 {
        let n = if normalized.is_finite() {
            normalized.clamp(0.0, 1.0)
        } else {
            0.0
        };
        if !self.choices.is_empty() {
            let last = self.choices.len() - 1;
            return self.choices[(n * last as f32).round() as usize].value;
        }
        let v = match self.scale {
            Scale::Linear => self.min + n * (self.max - self.min),
            Scale::Log => self.min * (self.max / self.min).powf(n),
        };
        v.max(self.min).min(self.max)
    }

    /// The value as a musician reads it, in the parameter's unit: "1.20 kHz", "-6.0 dB",
    /// "350 ms", "1.50 s".
    pub fn format(&self, plain: f32) -> String {
        if let Some(i) = self.nearest_choice(plain) {
            return self.choices[i].name.clone();
        }
        let (value, unit) = match self.unit.as_str() {
            "Hz" if plain.abs() >= 1000.0 => (plain / 1000.0, "kHz"),
            "ms" if plain.abs() >= 1000.0 => (plain / 1000.0, "s"),
            unit => (plain, unit),
        };
        let digits = if unit == "dB" {
            1
        } else {
            let magnitude = value.abs();
            if magnitude >= 100.0 {
                0
            } else if magnitude >= 10.0 {
                1
            } else {
                2
            }
        };
        let text = format!("{value:.digits$}");
        // "-0.00" reads as a glitch.
        let text = if text
            .trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            text.trim_start_matches('-').to_owned()
        } else {
            text
        };
        if unit.is_empty() {
            text
        } else {
            format!("{text} {unit}")
        }
    }

    /// Reads a typed value: a number, optionally followed by the parameter's unit or a scaled
    /// form of it ("1.2 kHz", "1.2k" for Hz; "1.5 s" for ms). Clamped to the range.
    pub fn parse(&self, text: &str) -> Option<f32> {
        let text = text.trim();
        if let Some(c) = self
            .choices
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(text))
        {
            return Some(c.value);
        }
        let split = text
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_digit() || c == '.' || c == ',' || ((c == '-' || c == '+') && i == 0))
                    && !((c == 'e' || c == 'E')
                        && text[i + 1..].starts_with(|d: char| d.is_ascii_digit() || d == '-'))
            })
            .map_or(text.len(), |(i, _)| i);
        let number: f32 = text[..split].replace(',', ".").parse().ok()?;
        let suffix = text[split..].trim().to_ascii_lowercase();
        let unit = self.unit.to_ascii_lowercase();
        let factor = match suffix.as_str() {
            "" => 1.0,
            s if s == unit => 1.0,
            "k" | "khz" if unit == "hz" => 1000.0,
            "s" | "sec" if unit == "ms" => 1000.0,
            "%" => 1.0,
            _ => return None,
        };
        let value = number * factor;
        value.is_finite().then(|| self.limit(value))
    }
}

/// How a parameter's range maps onto a slider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    #[default]
    Linear,
    Log,
}

/// A named region of linear memory holding DSP state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateRegion {
    pub name: String,
    pub kind: RegionKind,
    /// Where the region starts: a byte address, or the name of an exported `i32` global holding
    /// the address (what Rust and C toolchains export for a `static`).
    pub at: Address,
    /// Length in 4-byte elements (`f32` or `i32`); 1 for a scalar.
    #[serde(default = "one")]
    pub len: u32,
    /// For a ring buffer: where its write cursor (an `i32` element index) lives.
    #[serde(default)]
    pub cursor: Option<Address>,
}

fn one() -> u32 {
    1
}

/// The kinds of state region, which decide how a region is carried across a swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionKind {
    Scalar,
    Array,
    Ring,
}

/// A location in linear memory: a literal byte address or an exported `i32` global naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Address {
    Bytes(u32),
    Global(String),
}

/// A parameter's choices: at least two, at most [`MAX_CHOICES`], named, inside the range, no
/// value twice, and the default among them.
fn check_choices(p: &ParamSpec) -> Result<(), LoadError> {
    let bad = |why: String| {
        Err(LoadError::Metadata(format!(
            "parameter \"{}\": {why}",
            p.id
        )))
    };
    if p.choices.len() < 2 || p.choices.len() > MAX_CHOICES {
        return bad(format!(
            "\"choices\" needs 2 to {MAX_CHOICES} entries, got {}",
            p.choices.len()
        ));
    }
    for (i, c) in p.choices.iter().enumerate() {
        if c.name.trim().is_empty() {
            return bad(format!("choice {} has no name", i + 1));
        }
        if !(p.min..=p.max).contains(&c.value) {
            return bad(format!(
                "choice \"{}\" has value {} outside the range {}..{}",
                c.name, c.value, p.min, p.max
            ));
        }
        if p.choices[..i].iter().any(|d| d.value == c.value) {
            return bad(format!("two choices have the value {}", c.value));
        }
        // A typed name must find one choice.
        if p.choices[..i]
            .iter()
            .any(|d| d.name.trim().eq_ignore_ascii_case(c.name.trim()))
        {
            return bad(format!("two choices are named \"{}\"", c.name));
        }
    }
    if !p.choices.iter().any(|c| c.value == p.default) {
        return bad(format!(
            "the default {} is not one of the choices' values",
            p.default
        ));
    }
    Ok(())
}

impl Metadata {
    /// Parses the `wasp` section's payload and checks what can be checked without the module.
    pub fn parse(payload: &[u8]) -> Result<Self, LoadError> {
        let text = std::str::from_utf8(payload).map_err(|e| {
            LoadError::Metadata(format!(
                "it must be UTF-8 JSON, but byte {} is not valid UTF-8",
                e.valid_up_to()
            ))
        })?;
        let meta: Metadata = serde_json::from_str(text).map_err(|e| {
            LoadError::Metadata(format!(
                "{e} (the section must be a JSON object such as {{\"name\": \"My filter\"}})"
            ))
        })?;
        meta.check()?;
        Ok(meta)
    }

    fn check(&self) -> Result<(), LoadError> {
        if self.abi == 0 || self.abi > CONTRACT_VERSION {
            return Err(LoadError::Metadata(format!(
                "the module targets contract version {}, but this Wasp implements version {}; \
                 update Wasp or rebuild the module for version {}",
                self.abi, CONTRACT_VERSION, CONTRACT_VERSION
            )));
        }
        if self.params.len() > super::params::MAX_PARAMS {
            return Err(LoadError::Metadata(format!(
                "the module declares {} parameters; at most {} are supported",
                self.params.len(),
                super::params::MAX_PARAMS
            )));
        }
        let mut ids = std::collections::HashSet::new();
        for p in &self.params {
            if p.id.is_empty() {
                return Err(LoadError::Metadata(format!(
                    "parameter \"{}\" has an empty id",
                    p.name
                )));
            }
            if !ids.insert(p.id.as_str()) {
                return Err(LoadError::Metadata(format!(
                    "parameter id \"{}\" is declared twice",
                    p.id
                )));
            }
            if !(p.min.is_finite() && p.max.is_finite() && p.min < p.max) {
                return Err(LoadError::Metadata(format!(
                    "parameter \"{}\" needs finite min < max, got min {} and max {}",
                    p.id, p.min, p.max
                )));
            }
            if !(p.min..=p.max).contains(&p.default) {
                return Err(LoadError::Metadata(format!(
                    "parameter \"{}\" has default {} outside its range {}..{}",
                    p.id, p.default, p.min, p.max
                )));
            }
            if !p.choices.is_empty() {
                check_choices(p)?;
            }
            if p.scale == Scale::Log && p.min <= 0.0 {
                return Err(LoadError::Metadata(format!(
                    "parameter \"{}\" uses a log scale, so its min must be above 0 (got {})",
                    p.id, p.min
                )));
            }
        }
        if let Tail::Seconds(s) = self.tail {
            if !(s.is_finite() && s >= 0.0) {
                return Err(LoadError::Metadata(format!(
                    "\"tail\" must be a number of seconds of 0 or more, or \"infinite\" (got {s})"
                )));
            }
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.state {
            if !names.insert(r.name.as_str()) {
                return Err(LoadError::Metadata(format!(
                    "state region \"{}\" is declared twice",
                    r.name
                )));
            }
            if r.len == 0 {
                return Err(LoadError::Metadata(format!(
                    "state region \"{}\" has length 0",
                    r.name
                )));
            }
            match (r.kind, &r.cursor) {
                (RegionKind::Ring, None) => {
                    return Err(LoadError::Metadata(format!(
                    "ring buffer \"{}\" needs a \"cursor\" (address or global of its write index)",
                    r.name
                )))
                }
                (RegionKind::Scalar, _) if r.len != 1 => {
                    return Err(LoadError::Metadata(format!(
                        "scalar \"{}\" must have len 1 (got {}); use kind \"array\" for more",
                        r.name, r.len
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_section() {
        let meta = Metadata::parse(
            br#"{"abi":1,"name":"Delay","author":"me","version":"1.2.0","channels":"stereo",
                 "latency":3,
                 "params":[{"id":"fb","name":"Feedback","min":0,"max":1,"default":0.5}],
                 "state":[{"name":"buf","kind":"ring","at":1024,"len":4800,"cursor":"pos"},
                          {"name":"z","kind":"scalar","at":"z_addr"}],
                 "globals":["phase"]}"#,
        )
        .unwrap();
        assert_eq!(meta.name, "Delay");
        assert_eq!(meta.channels, Some(Channels::Stereo));
        assert_eq!(meta.params[0].scale, Scale::Linear);
        assert_eq!(meta.state[0].cursor, Some(Address::Global("pos".into())));
        assert_eq!(meta.state[1].at, Address::Global("z_addr".into()));
        assert_eq!(meta.state[1].len, 1);
        assert_eq!(meta.tail, Tail::Seconds(0.0));
        let meta = Metadata::parse(br#"{"tail": 2.5}"#).unwrap();
        assert_eq!(meta.tail.samples(48_000.0), Some(120_000));
        let meta = Metadata::parse(br#"{"tail": "infinite"}"#).unwrap();
        assert_eq!(meta.tail.samples(48_000.0), None);
    }

    fn spec(min: f32, max: f32, unit: &str, scale: Scale) -> ParamSpec {
        ParamSpec {
            about: String::new(),
            choices: Vec::new(),
            id: "p".into(),
            name: "P".into(),
            min,
            max,
            default: min,
            unit: unit.into(),
            scale,
        }
    }

    #[test]
    fn values_read_and_parse_in_their_units() {
        let cutoff = spec(20.0, 20_000.0, "Hz", Scale::Log);
        assert_eq!(cutoff.format(1200.0), "1.20 kHz");
        assert_eq!(cutoff.format(440.0), "440 Hz");
        assert_eq!(cutoff.parse("1.2 kHz"), Some(1200.0));
        assert_eq!(cutoff.parse("1.2k"), Some(1200.0));
        assert_eq!(cutoff.parse("880"), Some(880.0));
        assert_eq!(cutoff.parse("50000 Hz"), Some(20_000.0));
        assert_eq!(cutoff.parse("loud"), None);
        // Log scale: the geometric middle of 20 Hz..20 kHz is at one half.
        assert!((cutoff.normalize(632.4555) - 0.5).abs() < 1e-4);
        assert!((cutoff.denormalize(0.5) - 632.4555).abs() < 0.01);
        let gain = spec(-60.0, 6.0, "dB", Scale::Linear);
        assert_eq!(gain.format(-6.0), "-6.0 dB");
        assert_eq!(gain.format(-0.01), "0.0 dB");
        assert_eq!(gain.parse("-6 dB"), Some(-6.0));
        assert_eq!(gain.parse("-12.5"), Some(-12.5));
        let time = spec(1.0, 2000.0, "ms", Scale::Log);
        assert_eq!(time.format(1500.0), "1.50 s");
        assert_eq!(time.parse("1.5 s"), Some(1500.0));
        for n in [0.0, 0.25, 0.5, 1.0] {
            assert!((time.normalize(time.denormalize(n)) - n).abs() < 1e-5);
        }
    }

    #[test]
    fn rejects_future_contract_and_lies() {
        let err = Metadata::parse(br#"{"abi": 7}"#).unwrap_err().to_string();
        assert!(
            err.contains("version 7") && err.contains("update Wasp"),
            "{err}"
        );
        let err =
            Metadata::parse(br#"{"params":[{"id":"a","name":"A","min":1,"max":0,"default":0}]}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("min < max"), "{err}");
        let err = Metadata::parse(br#"{"nmae": "typo"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `nmae`"), "{err}");
        let err = Metadata::parse(br#"{"tail": -1}"#).unwrap_err().to_string();
        assert!(err.contains("tail"), "{err}");
        let err = Metadata::parse(br#"{"tail": "forever"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tail"), "{err}");
        let err = Metadata::parse(b"{not json").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn choices_snap_name_and_step_evenly() {
        let meta = Metadata::parse(
            br#"{"params":[{"id":"shape","name":"Shape","min":0,"max":10,"default":4,
                "choices":[{"name":"Sine","value":0},{"name":"Saw","value":4},
                           {"name":"Square","value":10}]}]}"#,
        )
        .unwrap();
        let p = &meta.params[0];
        assert_eq!(p.limit(1.9), 0.0);
        assert_eq!(p.limit(2.1), 4.0);
        assert_eq!(p.limit(99.0), 10.0);
        assert_eq!(p.limit(f32::NAN), 4.0);
        // A spec the checks would refuse still gives a value, without panicking.
        let upside_down = ParamSpec {
            min: 10.0,
            max: 0.0,
            ..p.clone()
        };
        assert!(upside_down.limit(5.0).is_finite());
        assert!(upside_down.denormalize(0.5).is_finite());
        assert_eq!(p.normalize(4.0), 0.5);
        assert_eq!(p.denormalize(0.74), 4.0);
        assert_eq!(p.denormalize(0.76), 10.0);
        assert_eq!(p.format(3.0), "Saw");
        assert_eq!(p.parse("SQUARE"), Some(10.0));
        assert_eq!(p.parse("8"), Some(10.0));
    }

    #[test]
    fn bad_choices_are_refused_with_the_reason() {
        let check = |choices: &str, default: f32| {
            let text = format!(
                r#"{{"params":[{{"id":"m","name":"M","min":0,"max":2,"default":{default},
                    "choices":{choices}}}]}}"#
            );
            match Metadata::parse(text.as_bytes()) {
                Err(LoadError::Metadata(m)) => m,
                other => panic!("{choices}: {other:?}"),
            }
        };
        let one = r#"[{"name":"A","value":0}]"#;
        assert!(check(one, 0.0).contains("2 to 128"));
        let outside = r#"[{"name":"A","value":0},{"name":"B","value":5}]"#;
        assert!(check(outside, 0.0).contains("outside the range"));
        let twice = r#"[{"name":"A","value":1},{"name":"B","value":1}]"#;
        assert!(check(twice, 1.0).contains("two choices"));
        let default = r#"[{"name":"A","value":0},{"name":"B","value":2}]"#;
        assert!(check(default, 1.0).contains("not one of the choices"));
        let unnamed = r#"[{"name":" ","value":0},{"name":"B","value":2}]"#;
        assert!(check(unnamed, 0.0).contains("no name"));
        let same = r#"[{"name":"Saw","value":0},{"name":"saw","value":2}]"#;
        assert!(check(same, 0.0).contains("two choices are named"));
    }
}
