//! A gain as a WCLAP: the CLAP C API compiled to wasm32, with `clap_entry`, `malloc` and a
//! growable function table exported. Wasp runs it like any module.
//!
//! - Parameter 7, "Gain" in dB (-60 to +12, default 0).
//! - While a note is held, the output is doubled (so a test can hear that notes arrive).
//! - Parameter 9, "Misbehave", for Wasp's containment tests: 1 traps in `process`, 2 loops
//!   forever in `process`, 3 reads through a wild pointer, 4 hands the host a wild pointer,
//!   5 is saved in its state and loops forever when that state is loaded.
//! - Logs "ready" through the host's log extension when it initialises.
//! - Its factory holds a second plugin, "WCLAP Gain (inverted)", the same with the polarity
//!   flipped, for choosing among a bundle's plugins.
//! - A trim that is no parameter: MIDI controller 7 sets it (value / 127; 1 at start). Only
//!   the plugin's own state (`clap.state`, which saves the gain and the trim) keeps it, so a
//!   test can hear that the state was carried.

use std::ffi::{c_char, c_void, CStr};
use std::ptr::null;

use clap_sys::entry::clap_plugin_entry;
use clap_sys::events::*;
use clap_sys::ext::log::{clap_host_log, CLAP_EXT_LOG, CLAP_LOG_INFO};
use clap_sys::ext::note_ports::{clap_host_note_ports, CLAP_EXT_NOTE_PORTS};
use clap_sys::ext::params::*;
use clap_sys::ext::state::{clap_plugin_state, CLAP_EXT_STATE};
use clap_sys::stream::{clap_istream, clap_ostream};
use clap_sys::factory::plugin_factory::{clap_plugin_factory, CLAP_PLUGIN_FACTORY_ID};
use clap_sys::host::clap_host;
use clap_sys::id::clap_id;
use clap_sys::plugin::{clap_plugin, clap_plugin_descriptor};
use clap_sys::process::{clap_process, clap_process_status, CLAP_PROCESS_CONTINUE};
use clap_sys::version::CLAP_VERSION;

const GAIN: clap_id = 7;
const MISBEHAVE: clap_id = 9;

/// The host's allocator for structures it places in the plugin's memory.
#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut u8 {
    let layout = std::alloc::Layout::from_size_align(size.max(1), 16).unwrap();
    unsafe { std::alloc::alloc_zeroed(layout) }
}

struct Sync<T>(T);
unsafe impl<T> std::marker::Sync for Sync<T> {}

static FEATURES: Sync<[*const c_char; 2]> = Sync([c"audio-effect".as_ptr(), null()]);
static INVERTED: Sync<clap_plugin_descriptor> = Sync(clap_plugin_descriptor {
    clap_version: CLAP_VERSION,
    id: c"org.wasp.test.wclap-gain-inverted".as_ptr(),
    name: c"WCLAP Gain (inverted)".as_ptr(),
    vendor: c"Wasp".as_ptr(),
    url: c"".as_ptr(),
    manual_url: c"".as_ptr(),
    support_url: c"".as_ptr(),
    version: c"1.2.0".as_ptr(),
    description: c"The gain, with the polarity flipped".as_ptr(),
    features: &FEATURES.0 as *const _ as *const *const c_char,
});
static DESCRIPTOR: Sync<clap_plugin_descriptor> = Sync(clap_plugin_descriptor {
    clap_version: CLAP_VERSION,
    id: c"org.wasp.test.wclap-gain".as_ptr(),
    name: c"WCLAP Gain".as_ptr(),
    vendor: c"Wasp".as_ptr(),
    url: c"".as_ptr(),
    manual_url: c"".as_ptr(),
    support_url: c"".as_ptr(),
    version: c"1.2.0".as_ptr(),
    description: c"A gain, as a CLAP plugin compiled to WebAssembly".as_ptr(),
    features: &FEATURES.0 as *const _ as *const *const c_char,
});

struct Gain {
    plugin: clap_plugin,
    host: *const clap_host,
    gain_db: f64,
    misbehave: u32,
    held: u32,
    trim: f64,
    inverted: bool,
}

unsafe fn this<'a>(plugin: *const clap_plugin) -> &'a mut Gain {
    &mut *((*plugin).plugin_data as *mut Gain)
}

unsafe extern "C" fn init(plugin: *const clap_plugin) -> bool {
    let host = this(plugin).host;
    let log = ((*host).get_extension.unwrap())(host, CLAP_EXT_LOG.as_ptr()) as *const clap_host_log;
    if !log.is_null() {
        ((*log).log.unwrap())(host, CLAP_LOG_INFO, c"ready".as_ptr());
        // What the host says about notes, through its note-ports extension.
        let ports = ((*host).get_extension.unwrap())(host, CLAP_EXT_NOTE_PORTS.as_ptr())
            as *const clap_host_note_ports;
        if !ports.is_null() {
            let dialects = ((*ports).supported_dialects.unwrap())(host);
            let line = std::ffi::CString::new(format!("note dialects: {dialects}")).unwrap();
            ((*log).log.unwrap())(host, CLAP_LOG_INFO, line.as_ptr());
        }
    }
    true
}
unsafe extern "C" fn destroy(plugin: *const clap_plugin) {
    drop(Box::from_raw((*plugin).plugin_data as *mut Gain));
}
unsafe extern "C" fn activate(_: *const clap_plugin, _: f64, _: u32, _: u32) -> bool {
    true
}
unsafe extern "C" fn deactivate(_: *const clap_plugin) {}
unsafe extern "C" fn start_processing(_: *const clap_plugin) -> bool {
    true
}
unsafe extern "C" fn stop_processing(_: *const clap_plugin) {}
unsafe extern "C" fn reset(plugin: *const clap_plugin) {
    this(plugin).held = 0;
}

unsafe fn event(g: &mut Gain, header: *const clap_event_header) {
    if (*header).space_id != CLAP_CORE_EVENT_SPACE_ID {
        return;
    }
    match (*header).type_ {
        CLAP_EVENT_PARAM_VALUE => {
            let e = &*(header as *const clap_event_param_value);
            match e.param_id {
                GAIN => g.gain_db = e.value.clamp(-60.0, 12.0),
                MISBEHAVE => g.misbehave = e.value as u32,
                _ => {}
            }
        }
        CLAP_EVENT_MIDI => {
            let e = &*(header as *const clap_event_midi);
            if e.data[0] & 0xF0 == 0xB0 && e.data[1] == 7 {
                g.trim = e.data[2] as f64 / 127.0;
            }
        }
        CLAP_EVENT_NOTE_ON => g.held += 1,
        CLAP_EVENT_NOTE_OFF => g.held = g.held.saturating_sub(1),
        _ => {}
    }
}

unsafe extern "C" fn process(plugin: *const clap_plugin, process: *const clap_process) -> clap_process_status {
    let g = this(plugin);
    let p = &*process;
    let events = &*p.in_events;
    for i in 0..(events.size.unwrap())(events) {
        event(g, (events.get.unwrap())(events, i));
    }
    match g.misbehave {
        1 => std::arch::wasm32::unreachable(),
        2 => loop {
            std::hint::black_box(&mut g.held);
        },
        3 => return std::ptr::read_volatile(0xFFFF_FFF0usize as *const i32),
        4 => {
            ((*g.host).get_extension.unwrap())(g.host, 0xFFFF_FF00usize as *const c_char);
        }
        _ => {}
    }
    let mut gain = (10f64.powf(g.gain_db / 20.0) * g.trim) as f32;
    if g.held > 0 {
        gain *= 2.0;
    }
    if g.inverted {
        gain = -gain;
    }
    let frames = p.frames_count as usize;
    let (input, output) = (&*p.audio_inputs, &*p.audio_outputs);
    for c in 0..output.channel_count as usize {
        let out = std::slice::from_raw_parts_mut(*output.data32.add(c), frames);
        if p.audio_inputs_count > 0 && c < input.channel_count as usize {
            let inp = std::slice::from_raw_parts(*input.data32.add(c), frames);
            for (o, i) in out.iter_mut().zip(inp) {
                *o = i * gain;
            }
        } else {
            out.fill(0.0);
        }
    }
    CLAP_PROCESS_CONTINUE
}

unsafe extern "C" fn params_count(_: *const clap_plugin) -> u32 {
    2
}
unsafe extern "C" fn params_get_info(_: *const clap_plugin, index: u32, info: *mut clap_param_info) -> bool {
    let (id, name, min, max, default): (_, &CStr, _, _, _) = match index {
        0 => (GAIN, c"Gain", -60.0, 12.0, 0.0),
        1 => (MISBEHAVE, c"Misbehave", 0.0, 5.0, 0.0),
        _ => return false,
    };
    let info = &mut *info;
    info.id = id;
    info.flags = CLAP_PARAM_IS_AUTOMATABLE;
    info.cookie = std::ptr::null_mut();
    info.name = [0; 256];
    for (d, s) in info.name.iter_mut().zip(name.to_bytes()) {
        *d = *s as c_char;
    }
    info.module = [0; 1024];
    info.min_value = min;
    info.max_value = max;
    info.default_value = default;
    true
}
unsafe extern "C" fn params_get_value(plugin: *const clap_plugin, id: clap_id, value: *mut f64) -> bool {
    let g = this(plugin);
    *value = match id {
        GAIN => g.gain_db,
        MISBEHAVE => g.misbehave as f64,
        _ => return false,
    };
    true
}
unsafe extern "C" fn params_flush(
    plugin: *const clap_plugin,
    inp: *const clap_input_events,
    _: *const clap_output_events,
) {
    let g = this(plugin);
    for i in 0..((*inp).size.unwrap())(inp) {
        event(g, ((*inp).get.unwrap())(inp, i));
    }
}

static PARAMS: clap_plugin_params = clap_plugin_params {
    count: Some(params_count),
    get_info: Some(params_get_info),
    get_value: Some(params_get_value),
    value_to_text: None,
    text_to_value: None,
    flush: Some(params_flush),
};

/// The state: the gain in dB, the trim and the misbehaviour, three little-endian f64s.
unsafe extern "C" fn state_save(plugin: *const clap_plugin, stream: *const clap_ostream) -> bool {
    let g = this(plugin);
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&g.gain_db.to_le_bytes());
    bytes[8..16].copy_from_slice(&g.trim.to_le_bytes());
    bytes[16..].copy_from_slice(&(g.misbehave as f64).to_le_bytes());
    let write = (*stream).write.unwrap();
    write(stream, bytes.as_ptr() as *const c_void, 24) == 24
}
unsafe extern "C" fn state_load(plugin: *const clap_plugin, stream: *const clap_istream) -> bool {
    let g = this(plugin);
    let mut bytes = [0u8; 24];
    let read = (*stream).read.unwrap();
    let mut got = 0;
    while got < 24 {
        let n = read(stream, bytes[got..].as_mut_ptr() as *mut c_void, (24 - got) as u64);
        if n <= 0 {
            return false;
        }
        got += n as usize;
    }
    g.gain_db = f64::from_le_bytes(bytes[..8].try_into().unwrap());
    g.trim = f64::from_le_bytes(bytes[8..16].try_into().unwrap());
    g.misbehave = f64::from_le_bytes(bytes[16..].try_into().unwrap()) as u32;
    if g.misbehave == 5 {
        loop {
            std::hint::black_box(&mut g.held);
        }
    }
    true
}

static STATE: clap_plugin_state = clap_plugin_state {
    save: Some(state_save),
    load: Some(state_load),
};

unsafe extern "C" fn get_extension(_: *const clap_plugin, id: *const c_char) -> *const c_void {
    let id = CStr::from_ptr(id);
    if id == CLAP_EXT_PARAMS {
        &PARAMS as *const _ as *const c_void
    } else if id == CLAP_EXT_STATE {
        &STATE as *const _ as *const c_void
    } else {
        null()
    }
}
unsafe extern "C" fn on_main_thread(_: *const clap_plugin) {}

unsafe extern "C" fn count(_: *const clap_plugin_factory) -> u32 {
    2
}
unsafe extern "C" fn descriptor(_: *const clap_plugin_factory, index: u32) -> *const clap_plugin_descriptor {
    match index {
        0 => &DESCRIPTOR.0,
        1 => &INVERTED.0,
        _ => null(),
    }
}
unsafe extern "C" fn create(
    _: *const clap_plugin_factory,
    host: *const clap_host,
    id: *const c_char,
) -> *const clap_plugin {
    let id = CStr::from_ptr(id);
    let inverted = id == CStr::from_ptr(INVERTED.0.id);
    if !inverted && id != CStr::from_ptr(DESCRIPTOR.0.id) {
        return null();
    }
    let gain = Box::into_raw(Box::new(Gain {
        plugin: clap_plugin {
            desc: if inverted { &INVERTED.0 } else { &DESCRIPTOR.0 },
            plugin_data: null::<c_void>() as *mut c_void,
            init: Some(init),
            destroy: Some(destroy),
            activate: Some(activate),
            deactivate: Some(deactivate),
            start_processing: Some(start_processing),
            stop_processing: Some(stop_processing),
            reset: Some(reset),
            process: Some(process),
            get_extension: Some(get_extension),
            on_main_thread: Some(on_main_thread),
        },
        host,
        gain_db: 0.0,
        misbehave: 0,
        held: 0,
        trim: 1.0,
        inverted,
    }));
    (*gain).plugin.plugin_data = gain as *mut c_void;
    &(*gain).plugin
}

static FACTORY: clap_plugin_factory = clap_plugin_factory {
    get_plugin_count: Some(count),
    get_plugin_descriptor: Some(descriptor),
    create_plugin: Some(create),
};

unsafe extern "C" fn entry_init(_: *const c_char) -> bool {
    true
}
unsafe extern "C" fn entry_deinit() {}
unsafe extern "C" fn get_factory(id: *const c_char) -> *const c_void {
    if CStr::from_ptr(id) == CLAP_PLUGIN_FACTORY_ID {
        &FACTORY as *const _ as *const c_void
    } else {
        null()
    }
}

#[no_mangle]
#[allow(non_upper_case_globals)]
pub static clap_entry: clap_plugin_entry = clap_plugin_entry {
    clap_version: CLAP_VERSION,
    init: Some(entry_init),
    deinit: Some(entry_deinit),
    get_factory: Some(get_factory),
};
