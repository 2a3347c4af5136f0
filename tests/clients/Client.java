// The storefront flow from the JDK's own HttpClient, with no library and no build tool:
//   java Client.java BASE_URL KEYSTORE.p12 TRUSTSTORE.p12
// Key material comes from the PKCS#12 files devpki writes (password MTLS_P12_PASSWORD,
// default "changeit"). Steps: "create" (POST /orders) and "read" (GET it back) with the
// keystore's certificate, then "nocert": the same POST presenting no certificate, which
// the server must refuse (one JVM start for both, as a start costs seconds).
// Prints one line per step: "<step> <status> <body>" or "<step> ERROR <exception>";
// exits 0 when every step ran, whatever the outcome.

import java.io.FileInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.KeyStore;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class Client {
    static final String ORDER =
        "{\"items\":[{\"sku\":\"java-book\",\"quantity\":1}],\"amount_minor\":1999,\"currency\":\"EUR\"}";

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: java Client.java BASE_URL KEYSTORE.p12 TRUSTSTORE.p12");
            System.exit(2);
        }
        String base = args[0];
        char[] password = System.getenv().getOrDefault("MTLS_P12_PASSWORD", "changeit").toCharArray();
        HttpClient client = client(sslContext(args[1], args[2], password));
        String created = step(client, "create", createOrder(base));
        Matcher id = Pattern.compile("\"id\":\"([^\"]+)\"").matcher(created == null ? "" : created);
        if (id.find()) {
            step(client, "read", HttpRequest.newBuilder(URI.create(base + "/orders/" + id.group(1))).GET());
        }
        step(client(sslContext(null, args[2], password)), "nocert", createOrder(base));
    }

    static HttpClient client(SSLContext context) {
        return HttpClient.newBuilder()
            .sslContext(context)
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();
    }

    static HttpRequest.Builder createOrder(String base) {
        return HttpRequest.newBuilder(URI.create(base + "/orders"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(ORDER));
    }

    static SSLContext sslContext(String keystore, String truststore, char[] password) throws Exception {
        KeyManagerFactory keys = null;
        if (keystore != null) {
            KeyStore store = KeyStore.getInstance("PKCS12");
            try (FileInputStream in = new FileInputStream(keystore)) {
                store.load(in, password);
            }
            keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(store, password);
        }
        KeyStore anchors = KeyStore.getInstance("PKCS12");
        try (FileInputStream in = new FileInputStream(truststore)) {
            anchors.load(in, password);
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(anchors);
        SSLContext context = SSLContext.getInstance("TLSv1.3");
        context.init(keys == null ? null : keys.getKeyManagers(), trust.getTrustManagers(), null);
        return context;
    }

    static String step(HttpClient client, String name, HttpRequest.Builder request) {
        try {
            HttpResponse<String> response = client.send(
                request.timeout(Duration.ofSeconds(15)).build(), HttpResponse.BodyHandlers.ofString());
            System.out.println(name + " " + response.statusCode() + " " + response.body().replace('\n', ' '));
            return response.body();
        } catch (Exception e) {
            System.out.println(name + " ERROR " + e.getClass().getName() + ": " + e.getMessage());
            return null;
        }
    }
}
