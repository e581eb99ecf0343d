package dev.portcullis.mongoserver;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

/**
 * Starts mongo-java-server with its in-memory backend on 127.0.0.1 for the Portcullis tests.
 *
 * Usage: java -cp "target/classes:target/dependency/*" dev.portcullis.mongoserver.Launcher [port]
 *
 * The port defaults to 0 (a free port). Once the server listens, the bound port is printed on
 * stdout as a single line. The server stops when stdin reaches end-of-file, so it never outlives
 * the process that started it.
 */
public final class Launcher {

    /**
     * The version the server reports in its hello reply. Node's MongoDB driver 7 (Mongoose 9)
     * refuses servers whose maxWireVersion is below 9 (MongoDB 4.4), and the library's own
     * ServerVersion values stop at wire version 8.
     */
    private static final MongoVersion REPORTED_VERSION = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    };

    private Launcher() {
    }

    public static void main(String[] args) throws IOException {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;
        if (port < 0 || port > 65535) {
            System.err.println("port must be between 0 and 65535");
            System.exit(2);
        }

        MemoryBackend backend = new MemoryBackend();
        backend.version(REPORTED_VERSION);
        MongoServer server = new MongoServer(backend);
        server.bind("127.0.0.1", port);

        System.out.println(server.getLocalAddress().getPort());
        System.out.flush();

        InputStream in = System.in;
        byte[] buffer = new byte[256];
        while (in.read(buffer) >= 0) {
            // Discard input; end-of-file means the parent is gone.
        }
        server.shutdownNow();
        System.exit(0);
    }
}
