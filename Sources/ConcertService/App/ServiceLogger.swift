import Logging

extension Logger {
    /// The service's logger: swift-log's `StreamLogHandler` lines on standard error, with the
    /// metadata rendered only for lines actually written.
    public static func service(level: Logger.Level) -> Logger {
        var logger = Logger(label: "concert") { label in DeferredMetadataLogHandler(output: .standardError(label: label)) }
        logger.logLevel = level
        return logger
    }
}

/// `StreamLogHandler` renders its metadata to text whenever a key is set (swift-log issue
/// #175), and Hummingbird sets a request id on every request's logger, logged or not, so every
/// request paid for rendering text nobody wrote. This handler keeps the metadata and hands it
/// to the stream handler with each line it writes, so only written lines pay for rendering.
struct DeferredMetadataLogHandler: LogHandler {
    private var output: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    init(output: StreamLogHandler) {
        self.output = output
    }

    var logLevel: Logger.Level {
        get { output.logLevel }
        set { output.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { output.metadataProvider }
        set { output.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.metadata = metadata.merging(event.metadata ?? [:]) { $1 }
        output.log(event: event)
    }
}
