//! Keeps the system's OpenGL libraries loaded for the life of the process.
//!
//! On Linux, GLVND's `libEGL`/`libGLX` and Mesa register per-thread destructors on every thread
//! that touches OpenGL, including the host thread that opens and closes the editor. When a host
//! unloads Wasp, the `dlclose` can take those libraries out of memory too (nothing else
//! references them), and the host's threads then crash when they exit, jumping into unmapped
//! code. Marking the already loaded libraries `RTLD_NODELETE` keeps them, at the cost of a few
//! megabytes staying mapped after an unload, which hosts that use OpenGL keep anyway.

#[cfg(all(unix, not(target_os = "macos")))]
pub fn pin_gl_libraries() {
    use std::ffi::{c_int, c_void, CStr};

    /// Name fragments of the libraries that carry OpenGL/EGL per-thread state.
    const PINNED: &[&str] = &["libGL", "libEGL", "libglapi", "libgallium", "_dri.so"];

    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        _data: *mut c_void,
    ) -> c_int {
        // SAFETY: the loader passes a valid `dl_phdr_info` for the duration of the callback;
        // `dlpi_name` is null or a NUL-terminated path.
        let name = unsafe { (*info).dlpi_name };
        if name.is_null() {
            return 0;
        }
        // SAFETY: as above.
        let path = unsafe { CStr::from_ptr(name) };
        let text = path.to_string_lossy();
        if PINNED.iter().any(|p| text.contains(p)) {
            // SAFETY: RTLD_NOLOAD only looks up an object that is already loaded (this one), so
            // no initialiser runs; the handle's extra reference is never released, on purpose.
            unsafe {
                libc::dlopen(
                    path.as_ptr(),
                    libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
                )
            };
        }
        0
    }

    // SAFETY: `visit` only reads what the loader hands it and calls `dlopen`, which may be
    // called from inside `dl_iterate_phdr` callbacks with RTLD_NOLOAD.
    unsafe { libc::dl_iterate_phdr(Some(visit), std::ptr::null_mut()) };
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
pub fn pin_gl_libraries() {}
