using System.Text.Json;
using System.Text.Json.Serialization;

namespace Deft.Peft;

/// <summary>PEFT settings under summary.json's names; the kinds as the CLI spelling ("vpt-deep+lora").</summary>
internal sealed class PeftOptionsJson : JsonConverter<PeftOptions>
{
    private sealed record Shape(string Peft, int? Partial, [property: JsonPropertyName("vpt_len")] int VptLength = 20, int LoraRank = 8, int AdapterDim = 8);

    public override PeftOptions Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var s = JsonSerializer.Deserialize<Shape>(ref reader, options) ?? throw new JsonException("PEFT settings are null.");
        if (s.Peft is null) throw new JsonException("peft is missing.");
        try
        {
            return new PeftOptions(PeftOptions.ParseKinds(s.Peft), s.Partial, s.VptLength, s.LoraRank, s.AdapterDim);
        }
        catch (DeftException ex)
        {
            throw new JsonException(ex.Message, ex);
        }
    }

    public override void Write(Utf8JsonWriter writer, PeftOptions value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, new Shape(value.Name, value.Partial, value.VptLength, value.LoraRank, value.AdapterDim), options);
}
