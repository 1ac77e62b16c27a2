import Testing

@testable import AstraMCP

@Suite("metrics_listen")
struct MetricsListenAddressTests {
    @Test("loopback addresses and localhost are accepted", arguments: [
        ("127.0.0.1:9464", "127.0.0.1", 9464), ("127.1.2.3:0", "127.1.2.3", 0), ("[::1]:9464", "::1", 9464),
        ("localhost:9100", "127.0.0.1", 9100),
    ])
    func loopback(text: String, host: String, port: Int) throws {
        let address = try MetricsListenAddress.parse(text)
        #expect(address == MetricsListenAddress(host: host, port: port))
    }

    @Test("anything else is refused with one line", arguments: [
        ("0.0.0.0:9464", "not a loopback address"), ("10.1.2.3:9464", "not a loopback address"), ("[::]:9464", "not a loopback address"),
        ("[::ffff:127.0.0.1]:9464", "not a loopback address"), ("example.com:9464", "not an IP address"), ("127.0.0.1", "expected 'ADDRESS:PORT'"),
        ("127.0.0.1:70000", "expected a port"), ("::1:9464", "expected 'ADDRESS:PORT'"),
    ])
    func refused(text: String, reason: String) {
        #expect {
            try MetricsListenAddress.parse(text)
        } throws: { error in
            let description = "\(error)"
            return description.contains(reason) && !description.contains("\n")
        }
    }

    @Test("the setting is off by default and can be turned off again; the cap is a setting too")
    func setting() throws {
        #expect(DaemonConfiguration().metricsListen == nil)
        #expect(DaemonConfiguration().metricsLabelCap == 200)
        var configuration = DaemonConfiguration()
        try configuration.apply(fileText: "metrics_listen = 127.0.0.1:9464\nmetrics_label_cap = 5\n", source: "test.conf")
        #expect(configuration.metricsListen == MetricsListenAddress(host: "127.0.0.1", port: 9464))
        #expect(configuration.metricsLabelCap == 5)
        let off = try DaemonConfiguration.load(path: nil, environment: ["ASTRA_MCPD_METRICS_LISTEN": ""])
        #expect(off.metricsListen == nil)
    }

    @Test("a non-loopback address stops the configuration with the key's name")
    func settingRefused() {
        #expect {
            var configuration = DaemonConfiguration()
            try configuration.apply(fileText: "metrics_listen = 192.168.1.10:9464\n", source: "a.conf")
        } throws: { error in
            "\(error)".hasPrefix("a.conf:1: key 'metrics_listen': 192.168.1.10 is not a loopback address")
        }
    }
}
