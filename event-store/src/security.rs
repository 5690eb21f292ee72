//! How a client proves who it is to Kafka and protects the wire: SASL/SCRAM (or PLAIN)
//! credentials and TLS. Every orderlog binary flattens [`KafkaSecurity`] into its
//! configuration (`ORDERLOG_KAFKA_*`), and every Kafka client it makes carries it.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rdkafka::ClientConfig;
use secret::Secret;

#[derive(Debug, Clone, Default, Args)]
pub struct KafkaSecurity {
    /// How clients talk to the brokers.
    #[arg(
        global = true,
        long = "kafka-security-protocol",
        env = "ORDERLOG_KAFKA_SECURITY_PROTOCOL",
        value_enum,
        default_value = "plaintext"
    )]
    pub protocol: Protocol,

    /// SASL mechanism, with sasl_plaintext or sasl_ssl.
    #[arg(
        global = true,
        long = "kafka-sasl-mechanism",
        env = "ORDERLOG_KAFKA_SASL_MECHANISM",
        value_enum,
        default_value = "scram-sha-512"
    )]
    pub mechanism: Mechanism,

    /// SASL user name: the principal the ACLs name (User:<name>).
    #[arg(
        global = true,
        long = "kafka-sasl-username",
        env = "ORDERLOG_KAFKA_SASL_USERNAME"
    )]
    pub username: Option<String>,

    /// SASL password.
    #[arg(
        global = true,
        long = "kafka-sasl-password",
        env = "ORDERLOG_KAFKA_SASL_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<Secret>,

    /// PEM file of the CA that signed the brokers' certificates, with ssl or sasl_ssl
    /// (default: the system's trust store).
    #[arg(
        global = true,
        long = "kafka-ssl-ca-file",
        env = "ORDERLOG_KAFKA_SSL_CA_FILE"
    )]
    pub ca_file: Option<PathBuf>,

    /// PEM certificate and key of this client, for brokers that require client certificates.
    #[arg(
        global = true,
        long = "kafka-ssl-cert-file",
        env = "ORDERLOG_KAFKA_SSL_CERT_FILE"
    )]
    pub cert_file: Option<PathBuf>,
    #[arg(
        global = true,
        long = "kafka-ssl-key-file",
        env = "ORDERLOG_KAFKA_SSL_KEY_FILE"
    )]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Mechanism {
    #[default]
    #[value(name = "scram-sha-512")]
    ScramSha512,
    #[value(name = "scram-sha-256")]
    ScramSha256,
    Plain,
}

impl KafkaSecurity {
    /// SCRAM-SHA-512 over plain TCP as `username`.
    pub fn scram(username: &str, password: &str) -> Self {
        Self {
            protocol: Protocol::SaslPlaintext,
            username: Some(username.to_owned()),
            password: Some(Secret::new(password)),
            ..Self::default()
        }
    }

    /// Sets the client properties these settings describe.
    pub fn apply(&self, config: &mut ClientConfig) {
        let protocol = match self.protocol {
            Protocol::Plaintext => "plaintext",
            Protocol::Ssl => "ssl",
            Protocol::SaslPlaintext => "sasl_plaintext",
            Protocol::SaslSsl => "sasl_ssl",
        };
        config.set("security.protocol", protocol);
        if matches!(self.protocol, Protocol::SaslPlaintext | Protocol::SaslSsl) {
            let mechanism = match self.mechanism {
                Mechanism::ScramSha512 => "SCRAM-SHA-512",
                Mechanism::ScramSha256 => "SCRAM-SHA-256",
                Mechanism::Plain => "PLAIN",
            };
            config.set("sasl.mechanism", mechanism);
            if let Some(username) = &self.username {
                config.set("sasl.username", username);
            }
            if let Some(password) = &self.password {
                config.set("sasl.password", password.expose());
            }
        }
        if matches!(self.protocol, Protocol::Ssl | Protocol::SaslSsl) {
            for (key, path) in [
                ("ssl.ca.location", &self.ca_file),
                ("ssl.certificate.location", &self.cert_file),
                ("ssl.key.location", &self.key_file),
            ] {
                if let Some(path) = path {
                    config.set(key, path.display().to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_settings_become_client_properties() {
        let mut config = ClientConfig::new();
        KafkaSecurity::scram("processor", "pw").apply(&mut config);
        assert_eq!(config.get("security.protocol"), Some("sasl_plaintext"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.username"), Some("processor"));
        assert_eq!(config.get("sasl.password"), Some("pw"));
        let mut plain = ClientConfig::new();
        KafkaSecurity::default().apply(&mut plain);
        assert_eq!(plain.get("security.protocol"), Some("plaintext"));
        assert_eq!(plain.get("sasl.username"), None);
    }
}
