PRAGMA user_version = 2;
BEGIN TRANSACTION;
CREATE TABLE "alerts" (
   "id" INTEGER PRIMARY KEY,
   "kind" TEXT,
   "subject" TEXT,
   "severity" TEXT,
   "message" TEXT,
   "state" TEXT,
   "raised_at" REAL,
   "last_seen" REAL,
   "count" INTEGER,
   "value" REAL,
   "acked_at" REAL,
   "resolved_at" REAL
);
INSERT INTO "alerts" VALUES(3,'worker_down','w-3f9a','critical','worker gate-box is not reachable','raised',1699999200.0,1699999230.0,1,NULL,NULL,NULL);
CREATE TABLE assignments (
            camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, worker_id TEXT NOT NULL, reason TEXT,
            started_at REAL NOT NULL, ended_at REAL, start_frame INTEGER, count_from_frame INTEGER,
            cut_frame INTEGER, cut_ts REAL,
            PRIMARY KEY (camera_id, epoch)
        ) WITHOUT ROWID;
INSERT INTO "assignments" VALUES('gate',1,'w-3f9a','new',1699999200.0,1699999260.0,NULL,NULL,600,NULL);
INSERT INTO "assignments" VALUES('gate',2,'w-3f9a','restart',1699999260.0,NULL,590,600,NULL,NULL);
CREATE TABLE "camera_shapes" (
   "camera_id" TEXT REFERENCES "cameras"("camera_id"),
   "name" TEXT,
   "kind" TEXT,
   "points" TEXT,
   PRIMARY KEY ("camera_id", "name")
);
INSERT INTO "camera_shapes" VALUES('gate','L','line','[[0.0, 100.0], [320.0, 100.0]]');
INSERT INTO "camera_shapes" VALUES('gate','yard','zone','[[0.0, 0.0], [160.0, 0.0], [160.0, 90.0]]');
CREATE TABLE "cameras" (
   "camera_id" TEXT PRIMARY KEY,
   "name" TEXT,
   "source" TEXT,
   "config" TEXT NOT NULL,
   "pin" TEXT,
   "pin_return" INTEGER,
   "target_fps" REAL,
   "created_at" REAL,
   "updated_at" REAL
);
INSERT INTO "cameras" VALUES('gate','','rtsp://10.0.0.7/stream1','{"camera_id": "gate", "source": "rtsp://10.0.0.7/stream1", "name": "", "lines": [{"name": "L", "p1": [0.0, 100.0], "p2": [320.0, 100.0]}], "zones": [{"name": "yard", "points": [[0.0, 0.0], [160.0, 0.0], [160.0, 90.0]]}], "model": null, "classes": null, "detect_fps": null, "confidence": 0.3, "priority": "normal", "site": "", "loop": false}','w-3f9a',1,10.0,1.79617359842241621015e+09,1.79617359842241621015e+09);
CREATE TABLE count_events (
            camera_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
            line TEXT NOT NULL, direction TEXT NOT NULL, class_name TEXT NOT NULL, track_id INTEGER,
            ts REAL NOT NULL, frame_index INTEGER, worker_id TEXT, fenced INTEGER NOT NULL DEFAULT 0,
            received_at REAL,
            PRIMARY KEY (camera_id, epoch, seq)
        ) WITHOUT ROWID;
INSERT INTO "count_events" VALUES('gate',2,1,'L','in','car',10,1699999270.0,600,'',0,1.79617359842298293117e+09);
INSERT INTO "count_events" VALUES('gate',2,2,'L','in','car',11,1699999271.0,610,'',0,1.796173598422983408e+09);
INSERT INTO "count_events" VALUES('gate',2,3,'L','out','car',12,1699999272.0,620,'',0,1.79617359842298388483e+09);
INSERT INTO "count_events" VALUES('gate',2,4,'L','in','car',13,1699999273.0,630,'',0,1.79617359842298436167e+09);
INSERT INTO "count_events" VALUES('gate',2,5,'L','out','car',14,1699999274.0,640,'',0,1.79617359842298507689e+09);
CREATE TABLE counts_hour (
                camera_id TEXT NOT NULL, hour INTEGER NOT NULL, line TEXT NOT NULL,
                direction TEXT NOT NULL, class_name TEXT NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (camera_id, hour, line, direction, class_name)
            ) WITHOUT ROWID;
INSERT INTO "counts_hour" VALUES('gate',472222,'L','in','car',3);
INSERT INTO "counts_hour" VALUES('gate',472222,'L','out','car',2);
CREATE TABLE counts_minute (
                camera_id TEXT NOT NULL, minute INTEGER NOT NULL, line TEXT NOT NULL,
                direction TEXT NOT NULL, class_name TEXT NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (camera_id, minute, line, direction, class_name)
            ) WITHOUT ROWID;
INSERT INTO "counts_minute" VALUES('gate',28333321,'L','in','car',3);
INSERT INTO "counts_minute" VALUES('gate',28333321,'L','out','car',2);
CREATE TABLE "meta" (
   "key" TEXT PRIMARY KEY,
   "value" TEXT
);
INSERT INTO "meta" VALUES('master_id','m0a1b2c3d4e5');
CREATE TABLE worker_metrics (
            worker_id TEXT NOT NULL, minute INTEGER NOT NULL, samples INTEGER NOT NULL,
            cpu REAL, mem REAL, gpu REAL, gpu_temp REAL, disk REAL, backlog INTEGER, fps REAL,
            PRIMARY KEY (worker_id, minute)
        ) WITHOUT ROWID;
INSERT INTO "worker_metrics" VALUES('w-3f9a',28333321,1,41.0,30.0,NULL,NULL,NULL,0,0.0);
CREATE TABLE "workers" (
   "worker_id" TEXT PRIMARY KEY,
   "name" TEXT,
   "host" TEXT,
   "cmd_port" INTEGER,
   "pub_port" INTEGER,
   "pair_port" INTEGER,
   "public_key" TEXT NOT NULL,
   "site" TEXT,
   "groups" TEXT,
   "draining" INTEGER,
   "adopted_at" REAL,
   "updated_at" REAL
);
INSERT INTO "workers" VALUES('w-3f9a','gate-box','10.0.0.5',7761,7762,7763,'eF3qkHok#wJBy@W-^<dp@!5TNg{PQsKecy6:&!^p','','[]',0,1.79617359842226815224e+09,1.79617359842226815224e+09);
CREATE TABLE zone_minute (
            camera_id TEXT NOT NULL, minute INTEGER NOT NULL, zone TEXT NOT NULL, peak INTEGER NOT NULL,
            PRIMARY KEY (camera_id, minute, zone)
        ) WITHOUT ROWID;
INSERT INTO "zone_minute" VALUES('gate',28333321,'yard',4);
CREATE INDEX assignments_worker ON assignments(worker_id, started_at);
CREATE INDEX count_events_ts ON count_events(camera_id, ts);
CREATE INDEX counts_minute_time ON counts_minute(minute);
CREATE INDEX counts_hour_time ON counts_hour(hour);
CREATE TRIGGER count_events_rollup AFTER INSERT ON count_events WHEN NEW.fenced = 0
        BEGIN
            INSERT INTO counts_minute VALUES (NEW.camera_id, CAST(NEW.ts / 60 AS INTEGER), NEW.line,
                NEW.direction, NEW.class_name, 1)
                ON CONFLICT (camera_id, minute, line, direction, class_name) DO UPDATE SET n = n + 1;
            INSERT INTO counts_hour VALUES (NEW.camera_id, CAST(NEW.ts / 3600 AS INTEGER), NEW.line,
                NEW.direction, NEW.class_name, 1)
                ON CONFLICT (camera_id, hour, line, direction, class_name) DO UPDATE SET n = n + 1;
        END;
CREATE INDEX "idx_alerts_state_raised_at"
    ON "alerts" ("state", "raised_at");
COMMIT;
