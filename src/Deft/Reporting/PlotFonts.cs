namespace Deft.Reporting;

/// <summary>
/// Registers DejaVu Sans with ScottPlot. SkiaSharp's NoDependencies native build finds no system fonts, so without
/// this every label of every plot silently vanishes. Debian ships the files in fonts-dejavu-core.
/// </summary>
public static class PlotFonts
{
    public const string Family = "DejaVu Sans";
    private static readonly string[] Directories =
        ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF"];
    private static readonly object Gate = new();
    private static bool _registered;

    /// <summary>Registers the fonts once; throws a DeftException saying what to install when they are missing.</summary>
    public static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (_registered) return;
            var dir = Directories.FirstOrDefault(d => File.Exists(Path.Combine(d, "DejaVuSans.ttf")))
                ?? throw new DeftException(
                    "DejaVu Sans not found (looked in " + string.Join(", ", Directories) + "). Plots need it for their labels: " +
                    "apt-get install -y fonts-dejavu-core.");
            ScottPlot.Fonts.AddFontFile(Family, Path.Combine(dir, "DejaVuSans.ttf"), bold: false, italic: false);
            var bold = Path.Combine(dir, "DejaVuSans-Bold.ttf");
            if (File.Exists(bold))
                ScottPlot.Fonts.AddFontFile(Family, bold, bold: true, italic: false);
            ScottPlot.Fonts.Default = Family;
            _registered = true;
        }
    }
}
