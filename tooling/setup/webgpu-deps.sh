#!/usr/bin/env sh
# The system libraries @tessera/backend-webgpu needs on a machine without a GPU driver: Dawn (the `webgpu` package)
# opens libEGL at run time and, through Mesa, gets the llvmpipe software adapter (OpenGL ES). On Debian/Ubuntu they are
# libegl1, libegl-mesa0 and libgl1-mesa-dri. Installed with apt where missing and we are root; otherwise the webgpu
# tests skip with a visible reason. Never fails the command it runs in.
if [ "$(uname -s)" != "Linux" ]; then exit 0; fi
have() { ldconfig -p 2>/dev/null | grep -q "$1"; }
if have libEGL.so.1 && have libEGL_mesa.so.0 && ls /usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "webgpu: installing Mesa's software adapter (libegl1 libegl-mesa0 libgl1-mesa-dri)…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null) ||
    echo "webgpu: apt-get failed; the webgpu tests will be skipped (they say why)."
else
  echo "webgpu: Mesa's EGL/llvmpipe libraries are missing and apt-get is not available as root;"
  echo "        install libegl1 libegl-mesa0 libgl1-mesa-dri to run the webgpu tests (they skip otherwise)."
fi
exit 0
