// Grants orderlog's roles their ACLs on the topics of one prefix, on a broker with the
// standard authorizer (docs/security.md has the table):
//   processor  reads commands, events, results and snapshots; writes events, results,
//              snapshots and dead letters; creates the topics; owns the transactional ids
//   http       writes commands, reads results
//   projector  reads events, writes dead letters
//   analyst    reads every topic
// Every role may describe the topics and use consumer groups. Nobody else may do anything.
// Run as a single-file source program:
//   java -cp '<kafka jars>/*' KafkaAcls.java host:port admin.properties <topic prefix>
import java.io.FileInputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class KafkaAcls {
    static final List<AclBinding> acls = new ArrayList<>();

    static void allow(String user, ResourceType type, String name, PatternType pattern, AclOperation... operations) {
        for (AclOperation operation : operations) {
            acls.add(new AclBinding(new ResourcePattern(type, name, pattern),
                new AccessControlEntry("User:" + user, "*", operation, AclPermissionType.ALLOW)));
        }
    }

    static void topic(String user, String name, AclOperation... operations) {
        allow(user, ResourceType.TOPIC, name, PatternType.LITERAL, operations);
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        Properties props = new Properties();
        try (FileInputStream in = new FileInputStream(args[1])) {
            props.load(in);
        }
        props.put("bootstrap.servers", bootstrap);
        String p = args[2];
        String commands = p + "order-commands", events = p + "order-events",
            results = p + "order-command-results", snapshots = p + "order-snapshots",
            deadLetter = p + "order-dead-letter";
        for (String user : new String[] {"processor", "http", "projector", "analyst"}) {
            allow(user, ResourceType.TOPIC, p, PatternType.PREFIXED, AclOperation.DESCRIBE);
            allow(user, ResourceType.GROUP, p, PatternType.PREFIXED, AclOperation.READ, AclOperation.DESCRIBE);
            allow(user, ResourceType.GROUP, "orderlog", PatternType.PREFIXED, AclOperation.READ, AclOperation.DESCRIBE);
        }
        allow("processor", ResourceType.TOPIC, p, PatternType.PREFIXED, AclOperation.CREATE);
        for (String t : new String[] {commands, events, results, snapshots}) {
            topic("processor", t, AclOperation.READ);
        }
        for (String t : new String[] {events, results, snapshots, deadLetter}) {
            topic("processor", t, AclOperation.WRITE);
        }
        allow("processor", ResourceType.TRANSACTIONAL_ID, p, PatternType.PREFIXED, AclOperation.WRITE, AclOperation.DESCRIBE);
        allow("processor", ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL, AclOperation.IDEMPOTENT_WRITE);
        topic("http", commands, AclOperation.WRITE);
        topic("http", results, AclOperation.READ);
        allow("http", ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL, AclOperation.IDEMPOTENT_WRITE);
        topic("projector", events, AclOperation.READ);
        topic("projector", deadLetter, AclOperation.WRITE);
        allow("projector", ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL, AclOperation.IDEMPOTENT_WRITE);
        allow("analyst", ResourceType.TOPIC, p, PatternType.PREFIXED, AclOperation.READ);
        try (Admin admin = Admin.create(props)) {
            admin.createAcls(acls).all().get();
        }
        System.out.println("granted " + acls.size() + " ACLs on topics prefixed '" + p + "'");
    }
}
