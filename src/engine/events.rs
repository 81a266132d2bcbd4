//! What the host tells a module besides audio and parameters: notes, other MIDI messages and
//! the song's transport (contract §8 and §8a in docs/ABI.md).

/// Size in bytes of the transport block a module exposes through `wasp_transport`.
pub const TRANSPORT_BYTES: usize = 48;

/// A note or MIDI channel message for the running module, at a frame of the block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModuleEvent {
    /// `wasp_note_on(key, velocity)`.
    NoteOn { key: u8, velocity: f32 },
    /// `wasp_note_off(key, velocity)`.
    NoteOff { key: u8, velocity: f32 },
    /// `wasp_midi(status, data1, data2)`: a controller, pitch bend, pressure or program change.
    Midi { status: u8, data1: u8, data2: u8 },
}

/// Bits of [`Transport::valid`]: which fields the host actually provided.
pub mod valid {
    pub const TEMPO: u32 = 1;
    pub const BEATS: u32 = 1 << 1;
    pub const SECONDS: u32 = 1 << 2;
    pub const TIME_SIGNATURE: u32 = 1 << 3;
    pub const BAR_START: u32 = 1 << 4;
}

/// The song's transport at the first frame of a block, as Wasp writes it into a module's
/// memory before each block (little-endian, `TRANSPORT_BYTES` long):
///
/// | offset | type | field |
/// |---|---|---|
/// | 0 | f64 | tempo in beats (quarter notes) per minute |
/// | 8 | f64 | song position in beats |
/// | 16 | f64 | song position in seconds |
/// | 24 | i32 | 1 while the transport plays, else 0 |
/// | 28 | i32 | time signature numerator |
/// | 32 | i32 | time signature denominator |
/// | 36 | i32 | which fields the host provided ([`valid`] bits) |
/// | 40 | f64 | position of the current bar's start, in beats |
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transport {
    pub tempo: f64,
    pub beats: f64,
    pub seconds: f64,
    pub playing: bool,
    pub numerator: i32,
    pub denominator: i32,
    pub valid: u32,
    pub bar_start: f64,
}

impl Default for Transport {
    /// 120 BPM in 4/4 at the start of the song, stopped, nothing provided by a host.
    fn default() -> Self {
        Self {
            tempo: 120.0,
            beats: 0.0,
            seconds: 0.0,
            playing: false,
            numerator: 4,
            denominator: 4,
            valid: 0,
            bar_start: 0.0,
        }
    }
}

impl Transport {
    /// The block's bytes as a module reads them.
    pub fn to_bytes(&self) -> [u8; TRANSPORT_BYTES] {
        let mut out = [0u8; TRANSPORT_BYTES];
        out[0..8].copy_from_slice(&self.tempo.to_le_bytes());
        out[8..16].copy_from_slice(&self.beats.to_le_bytes());
        out[16..24].copy_from_slice(&self.seconds.to_le_bytes());
        out[24..28].copy_from_slice(&i32::from(self.playing).to_le_bytes());
        out[28..32].copy_from_slice(&self.numerator.to_le_bytes());
        out[32..36].copy_from_slice(&self.denominator.to_le_bytes());
        out[36..40].copy_from_slice(&self.valid.to_le_bytes());
        out[40..48].copy_from_slice(&self.bar_start.to_le_bytes());
        out
    }

    /// The transport `frames` later at `sample_rate`, for a piece that starts inside a block:
    /// the positions move on (at the block's tempo) while the transport plays.
    pub fn advanced(&self, frames: usize, sample_rate: f32) -> Self {
        if !self.playing || frames == 0 || sample_rate <= 0.0 {
            return *self;
        }
        let seconds = frames as f64 / sample_rate as f64;
        Self {
            beats: self.beats + seconds * self.tempo / 60.0,
            seconds: self.seconds + seconds,
            ..*self
        }
    }
}
