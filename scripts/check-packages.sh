#!/usr/bin/env bash
# Packs the Deft.Core library and the deft tool into a local folder feed, then uses them as a new user would:
# installs the tool into a throwaway tool path and runs it, and builds and runs README's first ```csharp block in a
# new console project that references Deft.Core from that feed. Usage: scripts/check-packages.sh [FEED_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
feed="${1:-$work/feed}"
mkdir -p "$feed"
feed="$(cd "$feed" && pwd)"
version="0.0.0-check.$(date +%s)"

echo "== dotnet pack (version $version) into $feed"
dotnet pack "$root/src/Deft/Deft.csproj" -c Release -p:Version="$version" -o "$feed" -nologo -v quiet
# The tool carries libtorch: built for linux-x64 only, so the package holds one platform's native libraries.
dotnet pack "$root/src/Deft.Cli/Deft.Cli.csproj" -c Release -r linux-x64 -p:SelfContained=false -p:Version="$version" -o "$feed" -nologo -v quiet
ls -la "$feed"

echo "== dotnet tool install --add-source $feed deft"
dotnet tool install --tool-path "$work/tools" --add-source "$feed" --version "$version" deft
cd "$work"
"$work/tools/deft" --help | head -5
"$work/tools/deft" doctor >/dev/null
printf 'a photo of a cat.\na photo of a dog.\n' > "$work/prompts.txt"
"$work/tools/deft" embed --model random:tiny --synthetic 8 --texts "$work/prompts.txt" --out "$work/features.safetensors"
test -s "$work/features.safetensors"

echo "== README's first C# example in a new console project referencing Deft.Core $version"
"$root/scripts/check-readme-csharp.sh" --package "$feed" "$version"
echo "packages OK"
