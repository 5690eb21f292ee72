// Waits until a Kafka broker answers a metadata request, or fails after a deadline.
// Run as a single-file source program: java -cp '<kafka jars>/*' KafkaReady.java host:port seconds
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class KafkaReady {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        try (Admin admin = Admin.create(props)) {
            while (true) {
                try {
                    int nodes = admin.describeCluster().nodes().get(3, TimeUnit.SECONDS).size();
                    if (nodes > 0) {
                        System.out.println("kafka answers at " + bootstrap + " with " + nodes + " node(s)");
                        return;
                    }
                } catch (Exception e) {
                    if (System.nanoTime() > deadline) {
                        System.err.println("kafka did not answer at " + bootstrap + ": " + e.getMessage());
                        System.exit(1);
                    }
                }
                Thread.sleep(300);
            }
        }
    }
}
