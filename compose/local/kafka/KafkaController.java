// Prints the node id of the active controller (the KRaft quorum's leader), asked through
// the brokers. Run as a single-file source program:
//   java -cp '<kafka jars>/*' KafkaController.java host:port[,host:port...]
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class KafkaController {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        try (Admin admin = Admin.create(props)) {
            int leader = admin.describeMetadataQuorum().quorumInfo().get(30, TimeUnit.SECONDS).leaderId();
            System.out.println(leader);
        } catch (Exception e) {
            System.err.println("no active controller found at " + args[0] + ": " + e.getMessage());
            System.exit(1);
        }
    }
}
