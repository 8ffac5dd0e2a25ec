namespace Deft.Tests;

/// <summary>
/// An <see cref="IProgress{T}"/> that reports on the caller's thread, at once (<see cref="Progress{T}"/> posts to the
/// thread pool, so a test could read its effects late or cancel a step too late).
/// </summary>
internal sealed class TestProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
