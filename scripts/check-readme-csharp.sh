#!/usr/bin/env bash
# Runs the README's first ```csharp block as a new console project that references the library, as a user would;
# fails when it does not compile or exits non-zero.
# Usage: scripts/check-readme-csharp.sh [--package FEED_DIR VERSION] [README.md]
#   default: a ProjectReference to src/Deft/Deft.csproj; --package: Deft.Core VERSION from the folder feed FEED_DIR
#   (beside the machine's configured sources, which serve Deft.Core's own dependencies).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
feed="" version=""
if [[ "${1:-}" == "--package" ]]; then feed="$(cd "$2" && pwd)" version="$3"; shift 3; fi
readme="${1:-$root/README.md}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=2147483647}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

awk '/^```csharp[[:space:]]*$/ && !done { inside = 1; next } inside && /^```/ { inside = 0; done = 1; next } inside { print }' \
    "$readme" > "$work/Program.cs"
if [[ ! -s "$work/Program.cs" ]]; then
    echo "check-readme-csharp: no \`\`\`csharp block in $readme" >&2
    exit 1
fi

if [[ -n "$feed" ]]; then
  reference="<PackageReference Include=\"Deft.Core\" Version=\"$version\" />"
  cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration><packageSources><add key="deft-local" value="$feed" /></packageSources></configuration>
XML
else
  reference="<ProjectReference Include=\"$root/src/Deft/Deft.csproj\" />"
fi
cat > "$work/ReadmeExample.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    $reference
  </ItemGroup>
</Project>
XML

# The example writes its outputs relative to the working directory: run it inside the throwaway folder.
cd "$work"
dotnet run -c Release --project "$work/ReadmeExample.csproj"
if [[ -n "$feed" ]]; then what="Deft.Core $version from $feed"; else what="a project reference"; fi
echo "check-readme-csharp: the README's C# example ran against $what."
