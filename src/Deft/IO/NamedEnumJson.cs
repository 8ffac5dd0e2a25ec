using System.Text.Json;
using System.Text.Json.Serialization;

namespace Deft.IO;

/// <summary>Enums written with their CLI/summary names (the ToName/Parse pairs), not C#'s.</summary>
public abstract class NamedEnumJson<T>(Func<T, string> name, Func<string, T> parse) : JsonConverter<T> where T : struct, Enum
{
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) throw new JsonException($"Expected a string for {typeof(T).Name}.");
        try
        {
            return parse(reader.GetString()!);
        }
        catch (DeftException ex)
        {
            throw new JsonException(ex.Message, ex);
        }
    }

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(name(value));
}
