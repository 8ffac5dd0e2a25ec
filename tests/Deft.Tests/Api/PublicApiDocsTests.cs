using System.Reflection;
using System.Runtime.CompilerServices;
using System.Xml.Linq;
using Deft.Api;

namespace Deft.Tests.Api;

/// <summary>The in-memory API (namespace Deft.Api) is what the package documents: every public member has XML docs.</summary>
public class PublicApiDocsTests
{
    private static readonly string[] RecordMembers = ["Equals", "GetHashCode", "ToString", "Deconstruct", "PrintMembers", "<Clone>$"];

    [Fact]
    public void Every_public_type_and_member_of_Deft_Api_has_an_xml_doc_entry()
    {
        var assembly = typeof(LabelIssues).Assembly;
        var xmlPath = Path.ChangeExtension(assembly.Location, ".xml");
        Assert.True(File.Exists(xmlPath), $"{xmlPath} is missing: the library must build with GenerateDocumentationFile.");
        var documented = XDocument.Load(xmlPath).Descendants("member")
            .Where(m => m.Elements().Any(e => e.Name.LocalName is "summary" or "inheritdoc" && e.Value.Trim().Length + e.Attributes().Count() > 0))
            .Select(m => (string)m.Attribute("name")!).ToHashSet(StringComparer.Ordinal);

        var types = assembly.GetExportedTypes().Where(t => t.Namespace == "Deft.Api").ToList();
        Assert.True(types.Count >= 5, $"expected the API types in Deft.Api, found {types.Count}");
        var missing = new List<string>();
        foreach (var type in types)
        {
            var id = type.FullName!.Replace('+', '.');
            if (!documented.Contains("T:" + id)) missing.Add("T:" + id);
            const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var p in type.GetProperties(flags))
                if (p.Name != "EqualityContract" && !documented.Contains($"P:{id}.{p.Name}")) missing.Add($"P:{id}.{p.Name}");
            foreach (var f in type.GetFields(flags))
                if (!type.IsEnum || !f.IsSpecialName)
                    if (!documented.Contains($"F:{id}.{f.Name}")) missing.Add($"F:{id}.{f.Name}");
            // Methods by overload count: XML doc ids of parameter lists are not worth re-deriving here.
            foreach (var group in type.GetMethods(flags)
                         .Where(m => !m.IsSpecialName && m.GetCustomAttribute<CompilerGeneratedAttribute>() is null && !RecordMembers.Contains(m.Name))
                         .GroupBy(m => m.Name))
            {
                var entries = documented.Count(d => d == $"M:{id}.{group.Key}" || d.StartsWith($"M:{id}.{group.Key}(", StringComparison.Ordinal)
                    || d.StartsWith($"M:{id}.{group.Key}``", StringComparison.Ordinal));
                if (entries < group.Count()) missing.Add($"M:{id}.{group.Key} ({group.Count()} overloads, {entries} documented)");
            }
        }
        Assert.True(missing.Count == 0, "Undocumented public API:\n" + string.Join("\n", missing));
    }
}
