#!/usr/bin/env bash
# Write the npm tarballs of arkor tui into DIR: the launcher package `arkor-tui` and the
# platform package of this machine (e.g. arkor-tui-linux-x64-gnu) holding the binary.
#
#   npm/pack.sh DIR                   build the binary (cargo profile `dist`), then pack
#   npm/pack.sh --binary PATH DIR     pack a binary built already (e.g. target/debug/arkor)
#
# npm only packs (offline, no scripts); cargo builds with --locked from its cache (it fetches
# crates only when the cache lacks them). Each platform's package is built on that platform
# with this same script; `node npm/arkor-tui/lib/platform.js` prints which one that is.
set -euo pipefail

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

die() {
  echo "npm/pack.sh: $*" >&2
  exit 1
}

binary=""
dest=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary="$2"; shift 2 ;;
    --binary=*) binary="${1#--binary=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) [ -z "$dest" ] || die "one output directory only (got $dest and $1)"; dest="$1"; shift ;;
  esac
done
[ -n "$dest" ] || { usage >&2; die "no output directory given"; }

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
command -v node >/dev/null 2>&1 || die "node is not on PATH (Node.js >= 20 is needed)"
command -v npm >/dev/null 2>&1 || die "npm is not on PATH (it comes with Node.js)"

key="$(node "$here/arkor-tui/lib/platform.js")" || die "this machine has no platform package in npm/platforms"
platform_dir="$here/platforms/$key"
[ -f "$platform_dir/package.json" ] || die "npm/platforms/$key/package.json is missing"

# One version everywhere: the crate's, both packages', and the launcher's pin of the platform package.
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
[ -n "$version" ] || die "cannot read the version from Cargo.toml"
node - "$version" "$here/arkor-tui/package.json" "$platform_dir/package.json" "arkor-tui-$key" <<'JS' || exit 1
const [version, launcherPath, platformPath, platformName] = process.argv.slice(2);
const launcher = require(launcherPath);
const platform = require(platformPath);
const wrong = [];
if (launcher.version !== version) wrong.push(`${launcherPath} has version ${launcher.version}`);
if (platform.version !== version) wrong.push(`${platformPath} has version ${platform.version}`);
if (platform.name !== platformName) wrong.push(`${platformPath} is named ${platform.name}`);
for (const [name, pinned] of Object.entries(launcher.optionalDependencies ?? {})) {
  if (pinned !== version) wrong.push(`${launcherPath} pins ${name} at ${pinned}`);
}
if (!(platformName in (launcher.optionalDependencies ?? {}))) {
  wrong.push(`${launcherPath} does not list ${platformName} in optionalDependencies`);
}
if (wrong.length > 0) {
  console.error(`npm/pack.sh: versions must all be the crate's ${version}:\n  ${wrong.join('\n  ')}`);
  process.exit(1);
}
JS

if [ -z "$binary" ]; then
  echo "npm/pack.sh: building the binary (cargo profile dist: LTO, one codegen unit; takes a while)" >&2
  (cd "$root" && cargo build --profile dist --locked --bin arkor)
  binary="${CARGO_TARGET_DIR:-$root/target}/dist/arkor"
  built_here=1
else
  built_here=0
fi
[ -x "$binary" ] || die "$binary is not an executable file"
printed="$("$binary" --version)" || die "$binary --version failed"
[ "$printed" = "arkor $version" ] || die "$binary says '$printed', expected 'arkor $version'"

mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
staging="$(mktemp -d "${TMPDIR:-/tmp}/arkor-tui-pack.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

cp -R "$here/arkor-tui" "$staging/launcher"
cp -R "$platform_dir" "$staging/platform"
mkdir -p "$staging/platform/bin"
cp "$binary" "$staging/platform/bin/arkor-tui"
chmod 755 "$staging/platform/bin/arkor-tui"

pack() {
  (cd "$1" && npm pack --offline --ignore-scripts --silent --pack-destination "$dest") | tail -n 1
}
launcher_tgz="$(pack "$staging/launcher")"
platform_tgz="$(pack "$staging/platform")"

size="$(wc -c < "$dest/$platform_tgz")"
limit=$((30 * 1024 * 1024))
if [ "$size" -gt "$limit" ] && [ "$built_here" = 1 ]; then
  die "$dest/$platform_tgz is $size bytes, over the 30 MiB budget"
fi
echo "$dest/$launcher_tgz"
echo "$dest/$platform_tgz ($(( (size + 524288) / 1048576 )) MiB)"
