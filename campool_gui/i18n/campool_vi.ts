<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="vi_VN" sourcelanguage="en_US">
<context>
    <name>AddJobDialog</name>
    <message>
        <location filename="../ui/jobs_view.py" line="+180"/>
        <source>Add job</source>
        <translation>Thêm công việc</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Add files…</source>
        <translation>Thêm tệp…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Add folder…</source>
        <translation>Thêm thư mục…</translation>
    </message>
    <message>
        <location line="+9"/>
        <location line="+38"/>
        <source>Recordings</source>
        <translation>Bản ghi</translation>
    </message>
    <message>
        <location line="-36"/>
        <source>one per row: NAME:x1,y1,x2,y2   e.g. near:0,500,1280,500</source>
        <translation>mỗi dòng một vạch: TÊN:x1,y1,x2,y2   ví dụ near:0,500,1280,500</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Lines</source>
        <translation>Vạch đếm</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>one per row: NAME:x1,y1,x2,y2,x3,y3,...</source>
        <translation>mỗi dòng một vùng: TÊN:x1,y1,x2,y2,x3,y3,...</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Zones</source>
        <translation>Vùng</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>all classes; or e.g. car,truck,bus,motorcycle</source>
        <translation>mọi lớp; hoặc ví dụ car,truck,bus,motorcycle</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Classes</source>
        <translation>Lớp</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>ONNX model path (empty: the motion detector, not exact at cuts)</source>
        <translation>đường dẫn mô hình ONNX (để trống: bộ dò chuyển động, không chính xác tại các điểm cắt)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Model</source>
        <translation>Mô hình</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Priority</source>
        <translation>Ưu tiên</translation>
    </message>
    <message>
        <location line="+4"/>
        <source> min</source>
        <translation> phút</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Report interval</source>
        <translation>Chu kỳ báo cáo</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>from the file (metadata, else its time); or 2026-03-02T07:30</source>
        <translation>lấy từ tệp (siêu dữ liệu, nếu không thì thời gian của tệp); hoặc 2026-03-02T07:30</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Recording start</source>
        <translation>Bắt đầu ghi</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Queue job</source>
        <translation>Đưa vào hàng đợi</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Videos (*.mp4 *.mov *.avi *.mkv *.ts *.m4v);;All files (*)</source>
        <translation>Video (*.mp4 *.mov *.avi *.mkv *.ts *.m4v);;Mọi tệp (*)</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>A folder of recordings</source>
        <translation>Thư mục bản ghi</translation>
    </message>
    <message>
        <location line="+23"/>
        <source>the recording start is not a time such as 2026-03-02T07:30</source>
        <translation>thời điểm bắt đầu ghi không phải là thời gian dạng 2026-03-02T07:30</translation>
    </message>
</context>
<context>
    <name>AdoptDialog</name>
    <message>
        <location filename="../ui/adopt_dialog.py" line="+50"/>
        <source>Adopt {name}</source>
        <translation>Tiếp nhận {name}</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Adopt worker “{name}”</source>
        <translation>Tiếp nhận máy trạm “{name}”</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>On the worker, run  campool-worker pair  and check that the worker key it prints is the one below. Then type the pairing code it shows (valid for 10 minutes).</source>
        <translation>Trên máy trạm, chạy  campool-worker pair  và kiểm tra rằng khóa máy trạm nó in ra trùng với khóa bên dưới. Sau đó nhập mã ghép nối nó hiển thị (có hiệu lực trong 10 phút).</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Address</source>
        <translation>Địa chỉ</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>unknown</source>
        <translation>không rõ</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Worker key</source>
        <translation>Khóa máy trạm</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Pairing code</source>
        <translation>Mã ghép nối</translation>
    </message>
    <message>
        <location line="+7"/>
        <location line="+27"/>
        <source>Adopt</source>
        <translation>Tiếp nhận</translation>
    </message>
    <message>
        <location line="-11"/>
        <source>The pairing code has 8 letters or digits (ABCD-EFGH); copy it from `campool-worker pair`.</source>
        <translation>Mã ghép nối gồm 8 chữ cái hoặc chữ số (ABCD-EFGH); hãy chép nó từ `campool-worker pair`.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Adopting…</source>
        <translation>Đang tiếp nhận…</translation>
    </message>
</context>
<context>
    <name>AlertKind</name>
    <message>
        <location filename="../ui/display.py" line="+206"/>
        <source>worker down</source>
        <translation>máy trạm ngừng hoạt động</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>camera stream lost</source>
        <translation>mất luồng camera</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>camera fps below target</source>
        <translation>fps của camera dưới mục tiêu</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>high CPU</source>
        <translation>CPU cao</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>high memory</source>
        <translation>bộ nhớ cao</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>high GPU temperature</source>
        <translation>nhiệt độ GPU cao</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>outbox backlog growing</source>
        <translation>hàng đợi gửi đi đang tăng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>disk almost full</source>
        <translation>ổ đĩa sắp đầy</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>zone occupancy above limit</source>
        <translation>số đối tượng trong vùng vượt giới hạn</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>line rate above limit (per minute)</source>
        <translation>tốc độ qua vạch đếm vượt giới hạn (mỗi phút)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>camera failed on every worker</source>
        <translation>camera lỗi trên mọi máy trạm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>worker key mismatch</source>
        <translation>khóa máy trạm không khớp</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>master and worker protocol versions differ</source>
        <translation>phiên bản giao thức của trung tâm và máy trạm khác nhau</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>worker adopted by another master</source>
        <translation>máy trạm đã được trung tâm khác tiếp nhận</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>history database damaged</source>
        <translation>cơ sở dữ liệu lịch sử bị hỏng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>worker storage failing</source>
        <translation>bộ lưu trữ của máy trạm bị lỗi</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>worker storage running out</source>
        <translation>bộ lưu trữ của máy trạm sắp hết</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>worker outbox damaged</source>
        <translation>hàng đợi gửi đi của máy trạm bị hỏng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>integration not working</source>
        <translation>tích hợp không hoạt động</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>camera not watched enough</source>
        <translation>camera không được theo dõi đủ</translation>
    </message>
</context>
<context>
    <name>AlertMessage</name>
    <message>
        <location line="-59"/>
        <source>worker {name} is not reachable</source>
        <translation>không kết nối được máy trạm {name}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>worker {name} is down (no heartbeat for {s} s)</source>
        <translation>máy trạm {name} ngừng hoạt động (không có nhịp tim trong {s} giây)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>worker {name}: CPU {v} %</source>
        <translation>máy trạm {name}: CPU {v} %</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>worker {name}: memory {v} %</source>
        <translation>máy trạm {name}: bộ nhớ {v} %</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>worker {name}: GPU at {v} °C</source>
        <translation>máy trạm {name}: GPU ở {v} °C</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>worker {name}: disk {v} % full</source>
        <translation>máy trạm {name}: ổ đĩa đầy {v} %</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>worker {name}: {n} count events waiting to reach the master</source>
        <translation>máy trạm {name}: {n} sự kiện đếm đang chờ gửi về trung tâm</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>camera {name}: stream lost ({why})</source>
        <translation>camera {name}: mất luồng ({why})</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>camera {name}: camera failed ({why})</source>
        <translation>camera {name}: camera bị lỗi ({why})</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>camera {name}: {fps} fps, target {target}</source>
        <translation>camera {name}: {fps} fps, mục tiêu {target}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>camera {name} failed on every worker: {why}</source>
        <translation>camera {name} lỗi trên mọi máy trạm: {why}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>camera {name}: zone {zone} holds {n} (limit {limit})</source>
        <translation>camera {name}: vùng {zone} có {n} (giới hạn {limit})</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>camera {name}: line {line} counted {n} in the last minute (limit {limit})</source>
        <translation>camera {name}: vạch đếm {line} đếm được {n} trong phút vừa qua (giới hạn {limit})</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>camera {name}: watched {pct} % of the last hour (alert below {low} %); see the gaps in History</source>
        <translation>camera {name}: được theo dõi {pct} % trong giờ vừa qua (cảnh báo khi dưới {low} %); xem các khoảng trống trong Lịch sử</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>worker {name} was adopted by another master {who} (key {key}); if that is not yours, run `{cmd}` on the worker</source>
        <translation>máy trạm {name} đã được trung tâm khác {who} tiếp nhận (khóa {key}); nếu đó không phải của bạn, hãy chạy `{cmd}` trên máy trạm</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>worker {name}: {what}</source>
        <translation>máy trạm {name}: {what}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>serving {url}</source>
        <translation>đang phục vụ {url}</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>connecting to {address}</source>
        <translation>đang kết nối tới {address}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>connected to {address}, publishing under {prefix}</source>
        <translation>đã kết nối tới {address}, xuất bản dưới {prefix}</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>stopped</source>
        <translation>đã dừng</translation>
    </message>
</context>
<context>
    <name>AlertsModel</name>
    <message>
        <location filename="../ui/alerts_view.py" line="+37"/>
        <source>Severity</source>
        <translation>Mức độ</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Time</source>
        <translation>Thời gian</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Source</source>
        <translation>Nguồn</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Alert</source>
        <translation>Cảnh báo</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>State</source>
        <translation>Trạng thái</translation>
    </message>
</context>
<context>
    <name>AlertsView</name>
    <message>
        <location line="+92"/>
        <source>Alerts</source>
        <translation>Cảnh báo</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Worker failures, lost streams, overloads. Acknowledge to say you are on it; resolve when fixed.</source>
        <translation>Máy trạm hỏng, mất luồng, quá tải. Xác nhận để báo bạn đang xử lý; đóng khi đã khắc phục.</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Active</source>
        <translation>Đang mở</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>All</source>
        <translation>Tất cả</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Acknowledge</source>
        <translation>Xác nhận</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Resolve</source>
        <translation>Đã xử lý</translation>
    </message>
    <message>
        <location line="+40"/>
        <source>All clear — no active alerts.

A worker that stops answering, a camera whose stream is lost, a worker that runs hot: they appear here, newest first.</source>
        <translation>Mọi thứ ổn — không có cảnh báo nào đang mở.

Máy trạm không phản hồi, camera mất luồng, máy trạm quá nóng: chúng sẽ hiện ở đây, mới nhất ở trên.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>No alerts yet.</source>
        <translation>Chưa có cảnh báo nào.</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>{open} open · {crit} critical active · {total} in total. Acknowledge to say you are on it; resolve when fixed.</source>
        <translation>{open} đang mở · {crit} nghiêm trọng · tổng {total}. Xác nhận để báo bạn đang xử lý; đóng khi đã khắc phục.</translation>
    </message>
</context>
<context>
    <name>AutoTargetCard</name>
    <message>
        <location filename="../ui/worker_card.py" line="+271"/>
        <source>Auto</source>
        <translation>Tự động</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Drop cameras here to let the balancer choose the worker. Pinned cameras dropped here are unpinned.</source>
        <translation>Thả camera vào đây để bộ cân bằng tải chọn máy trạm. Camera đã ghim thả vào đây sẽ được bỏ ghim.</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>policy: {name}</source>
        <translation>chính sách: {name}</translation>
    </message>
</context>
<context>
    <name>CameraDialog</name>
    <message>
        <location filename="../ui/camera_dialog.py" line="+50"/>
        <source>Motion (built-in, no model)</source>
        <translation>Chuyển động (sẵn có, không mô hình)</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>vehicles</source>
        <translation>phương tiện</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>people</source>
        <translation>người</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>all classes</source>
        <translation>mọi loại</translation>
    </message>
    <message>
        <location line="+22"/>
        <source>Auto (hot when critical)</source>
        <translation>Tự động (nóng khi quan trọng)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>None</source>
        <translation>Không</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Warm</source>
        <translation>Ấm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Hot</source>
        <translation>Nóng</translation>
    </message>
    <message>
        <location line="+28"/>
        <location line="+5"/>
        <source>Edit camera</source>
        <translation>Sửa camera</translation>
    </message>
    <message>
        <location line="-5"/>
        <location line="+141"/>
        <source>Add camera</source>
        <translation>Thêm camera</translation>
    </message>
    <message>
        <location line="-136"/>
        <source>Add a camera</source>
        <translation>Thêm một camera</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>e.g. Gate 2 north</source>
        <translation>vd. Cổng 2 phía bắc</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>derived from the name</source>
        <translation>lấy từ tên</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>rtsp://user:pass@10.0.0.5/stream1, a video file, usb:0 ...</source>
        <translation>rtsp://user:pass@10.0.0.5/stream1, một tệp video, usb:0 ...</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Choose a video file</source>
        <translation>Chọn một tệp video</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Videos (*.mp4 *.avi *.mkv *.mov *.ts);;All files (*)</source>
        <translation>Video (*.mp4 *.avi *.mkv *.mov *.ts);;Mọi tệp (*)</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Scan…</source>
        <translation>Quét…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Find the ONVIF cameras on this network and pick one of their streams</source>
        <translation>Tìm các camera ONVIF trong mạng này và chọn một luồng của chúng</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>the stream&apos;s password, if it has one (the URL holds the user name)</source>
        <translation>mật khẩu của luồng, nếu có (URL chứa tên người dùng)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Kept in the OS keyring of this computer (or, without one, in a file only you can read) and sent to a worker only inside the encrypted assignment; shown nowhere.</source>
        <translation>Được giữ trong kho khóa của hệ điều hành trên máy này (nếu không có thì trong một tệp chỉ bạn đọc được) và chỉ gửi tới máy trạm bên trong lệnh giao việc đã mã hóa; không hiển thị ở đâu cả.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>site or group, e.g. north-yard</source>
        <translation>địa điểm hoặc nhóm, vd. bai-phia-bac</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>A second worker watching a live stream, ready to take over with no crossing lost: hot runs the whole pipeline (costs a camera&apos;s worth), warm keeps the stream and its last seconds of frames (about a quarter). Auto: hot for a critical camera when a second worker can run it. Files need none: they fail over exactly by seeking back.</source>
        <translation>Một máy trạm thứ hai theo dõi luồng trực tiếp, sẵn sàng tiếp quản mà không sót lượt qua vạch nào: nóng chạy toàn bộ quy trình (tốn bằng một camera), ấm giữ luồng và vài giây khung hình gần nhất (khoảng một phần tư). Tự động: nóng cho camera quan trọng khi có máy trạm thứ hai chạy được. Tệp video không cần: chúng chuyển đổi chính xác bằng cách tua lại.</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>An ONNX detector file on this computer: the control center copies it to the workers that run the camera.</source>
        <translation>Một tệp mô hình phát hiện ONNX trên máy này: trung tâm điều khiển sẽ chép nó tới các máy trạm chạy camera.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Choose a detector model</source>
        <translation>Chọn mô hình phát hiện</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>ONNX models (*.onnx);;All files (*)</source>
        <translation>Mô hình ONNX (*.onnx);;Mọi tệp (*)</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>COCO names (built in); a custom model: its class names, in order</source>
        <translation>tên lớp COCO (có sẵn); mô hình riêng: các tên lớp của nó, theo thứ tự</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Choose the model&apos;s labels file</source>
        <translation>Chọn tệp nhãn của mô hình</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Labels (*.txt *.names *.labels);;All files (*)</source>
        <translation>Nhãn (*.txt *.names *.labels);;Mọi tệp (*)</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>all classes (or e.g. car,truck,bus)</source>
        <translation>mọi loại (hoặc vd. car,truck,bus)</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>presets…</source>
        <translation>mẫu có sẵn…</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>off: detection below decides</source>
        <translation>tắt: chế độ dò bên dưới quyết định</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>A fixed detector rate; off lets the detection mode below decide</source>
        <translation>Tần suất dò cố định; tắt để chế độ dò bên dưới quyết định</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>adaptive: when counting needs it</source>
        <translation>thích ứng: khi việc đếm cần</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>every frame</source>
        <translation>mọi khung hình</translation>
    </message>
    <message>
        <location line="+5"/>
        <source> runs/s at most</source>
        <translation> lần/giây tối đa</translation>
    </message>
    <message>
        <location line="+5"/>
        <source> runs/s when idle</source>
        <translation> lần/giây khi rảnh</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Loop a video file (demos, soak tests)</source>
        <translation>Phát lặp tệp video (demo, thử tải dài)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Name</source>
        <translation>Tên</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Camera id</source>
        <translation>Mã camera</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Source</source>
        <translation>Nguồn</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Password</source>
        <translation>Mật khẩu</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Site</source>
        <translation>Địa điểm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Priority</source>
        <translation>Ưu tiên</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Standby</source>
        <translation>Dự phòng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Model</source>
        <translation>Mô hình</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Labels</source>
        <translation>Nhãn</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Classes</source>
        <translation>Loại</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Detect rate</source>
        <translation>Tần suất phát hiện</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Detection</source>
        <translation>Chế độ dò</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Detect budget</source>
        <translation>Giới hạn dò</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Detect floor</source>
        <translation>Mức dò tối thiểu</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Confidence</source>
        <translation>Độ tin cậy</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Test the connection to see a frame</source>
        <translation>Kiểm tra kết nối để xem một khung hình</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Test connection</source>
        <translation>Kiểm tra kết nối</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Open the source from this PC and read one frame (in the background)</source>
        <translation>Mở nguồn từ máy này và đọc một khung hình (chạy nền)</translation>
    </message>
    <message>
        <location line="+16"/>
        <source>Save</source>
        <translation>Lưu</translation>
    </message>
    <message>
        <location line="+23"/>
        <source>unchanged (kept on this computer, never shown); type a new one to replace it</source>
        <translation>không đổi (giữ trên máy này, không bao giờ hiển thị); nhập mật khẩu mới để thay</translation>
    </message>
    <message>
        <location line="+27"/>
        <source>File…</source>
        <translation>Tệp…</translation>
    </message>
    <message>
        <location line="+39"/>
        <source>From the scan: {stream} of {camera}; test the connection to see a frame</source>
        <translation>Từ kết quả quét: {stream} của {camera}; kiểm tra kết nối để xem một khung hình</translation>
    </message>
    <message>
        <location line="+33"/>
        <source>a camera with id {id} already exists; choose another name or id</source>
        <translation>đã có camera với mã {id}; hãy chọn tên hoặc mã khác</translation>
    </message>
    <message>
        <location line="+40"/>
        <source>Enter a source first.</source>
        <translation>Hãy nhập nguồn trước.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>type the password to test the connection</source>
        <translation>nhập mật khẩu để kiểm tra kết nối</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Connecting to {url} …</source>
        <translation>Đang kết nối tới {url} …</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Connecting…</source>
        <translation>Đang kết nối…</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>No frame</source>
        <translation>Không có khung hình</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Connected: {width}x{height}{fps}</source>
        <translation>Đã kết nối: {width}x{height}{fps}</translation>
    </message>
    <message>
        <location line="+16"/>
        <source>a password needs a user name in the URL: write it as rtsp://USER@host/… (or http://USER@host/…) and the password in its field</source>
        <translation>mật khẩu cần có tên người dùng trong URL: hãy viết rtsp://USER@host/… (hoặc http://USER@host/…) và nhập mật khẩu vào ô của nó</translation>
    </message>
</context>
<context>
    <name>CameraTableModel</name>
    <message>
        <location filename="../ui/camera_model.py" line="+25"/>
        <source>Camera</source>
        <translation>Camera</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Source</source>
        <translation>Nguồn</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Site</source>
        <translation>Địa điểm</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Priority</source>
        <translation>Ưu tiên</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Worker</source>
        <translation>Máy trạm</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>State</source>
        <translation>Trạng thái</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>FPS</source>
        <translation>FPS</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Counted</source>
        <translation>Đã đếm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Standby</source>
        <translation>Dự phòng</translation>
    </message>
    <message>
        <location line="+78"/>
        <source>epoch {n}</source>
        <translation>phiên {n}</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>never assigned</source>
        <translation>chưa từng được giao</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>pinned by the operator</source>
        <translation>được người vận hành ghim</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>placed by the balancer</source>
        <translation>do bộ cân bằng tải đặt</translation>
    </message>
    <message>
        <location line="+19"/>
        <location line="+20"/>
        <source>auto</source>
        <translation>tự động</translation>
    </message>
    <message>
        <location line="-2"/>
        <source>Ctrl-drag the camera onto a worker to choose its standby&apos;s worker</source>
        <translation>Giữ Ctrl và kéo camera lên một máy trạm để chọn máy trạm dự phòng cho nó</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>no standby (setting: {setting})</source>
        <translation>không có dự phòng (thiết lập: {setting})</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>{mode} standby, {state}</source>
        <translation>dự phòng {mode}, {state}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source> on {worker}</source>
        <translation> trên {worker}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>{s} s of frames buffered</source>
        <translation>đã đệm {s} giây khung hình</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>worker chosen by the operator</source>
        <translation>máy trạm do người vận hành chọn</translation>
    </message>
</context>
<context>
    <name>CamerasView</name>
    <message>
        <location filename="../ui/cameras_view.py" line="+85"/>
        <source>Cameras</source>
        <translation>Camera</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Your camera library. Select cameras and drag them onto a worker (pin) or onto Auto.</source>
        <translation>Thư viện camera của bạn. Chọn camera rồi kéo lên một máy trạm (ghim) hoặc vào Tự động.</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Add camera</source>
        <translation>Thêm camera</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Edit</source>
        <translation>Sửa</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Lines &amp;&amp; zones</source>
        <translation>Vạch &amp;&amp; vùng</translation>
    </message>
    <message>
        <location line="+1"/>
        <location line="+207"/>
        <source>Remove</source>
        <translation>Xóa</translation>
    </message>
    <message>
        <location line="-205"/>
        <source>Import…</source>
        <translation>Nhập…</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Add cameras from a JSON file (see resources/samples)</source>
        <translation>Thêm camera từ tệp JSON (xem resources/samples)</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Filter by name, source or site…</source>
        <translation>Lọc theo tên, nguồn hoặc địa điểm…</translation>
    </message>
    <message>
        <location line="+40"/>
        <source>Assign</source>
        <translation>Giao việc</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Drop selected cameras on a worker to pin them, or on Auto.</source>
        <translation>Thả các camera đã chọn lên một máy trạm để ghim, hoặc vào Tự động.</translation>
    </message>
    <message>
        <location line="+33"/>
        <source>{n} cameras · {running} running. Select cameras and drag them onto a worker (pin) or onto Auto.</source>
        <translation>{n} camera · {running} đang chạy. Chọn camera rồi kéo lên một máy trạm (ghim) hoặc vào Tự động.</translation>
    </message>
    <message>
        <location line="+66"/>
        <location line="+14"/>
        <source>No frame from the camera ({error}); draw on a blank canvas of 1280x720</source>
        <translation>Không lấy được khung hình từ camera ({error}); vẽ trên nền trống 1280x720</translation>
    </message>
    <message>
        <location line="-11"/>
        <source>Getting a frame of {camera} for the editor…</source>
        <translation>Đang lấy một khung hình của {camera} cho trình chỉnh sửa…</translation>
    </message>
    <message>
        <location line="+27"/>
        <source>Import cameras</source>
        <translation>Nhập camera</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Camera lists (*.json);;All files (*)</source>
        <translation>Danh sách camera (*.json);;Mọi tệp (*)</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Importing {n} camera(s) from {path}</source>
        <translation>Đang nhập {n} camera từ {path}</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>; {n} already in the library were left as they are</source>
        <translation>; {n} camera đã có trong thư viện được giữ nguyên</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Remove cameras</source>
        <translation>Xóa camera</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Remove {n} camera(s): {names}?
Their count history is kept.</source>
        <translation>Xóa {n} camera: {names}?
Lịch sử đếm của chúng vẫn được giữ lại.</translation>
    </message>
</context>
<context>
    <name>Demo</name>
    <message>
        <location filename="../ui/application.py" line="+215"/>
        <source>Starting local demo workers and adopting two of them…</source>
        <translation>Đang khởi động các máy trạm demo cục bộ và tiếp nhận hai máy…</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Demo: worker {name} is waiting to be adopted — Workers &gt; Adopt, pairing code {code}</source>
        <translation>Demo: máy trạm {name} đang chờ được tiếp nhận — Máy trạm &gt; Tiếp nhận, mã ghép nối {code}</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Demo failed: {error}</source>
        <translation>Demo thất bại: {error}</translation>
    </message>
</context>
<context>
    <name>Duration</name>
    <message>
        <location filename="../ui/display.py" line="-161"/>
        <source>{d}d {h}h</source>
        <translation>{d} ngày {h} giờ</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{h}h {m}m</source>
        <translation>{h} giờ {m} phút</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{m}m {s}s</source>
        <translation>{m} phút {s} giây</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>{s}s</source>
        <translation>{s} giây</translation>
    </message>
</context>
<context>
    <name>HistoryView</name>
    <message>
        <location filename="../ui/history_view.py" line="+49"/>
        <source>Last hour</source>
        <translation>Giờ vừa qua</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Last 24 hours</source>
        <translation>24 giờ qua</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Last 7 days</source>
        <translation>7 ngày qua</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Last 30 days</source>
        <translation>30 ngày qua</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Custom</source>
        <translation>Tùy chọn</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>minute</source>
        <translation>phút</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>hour</source>
        <translation>giờ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>day</source>
        <translation>ngày</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>in</source>
        <translation>vào</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>out</source>
        <translation>ra</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>occupancy</source>
        <translation>số đối tượng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>all</source>
        <translation>tất cả</translation>
    </message>
    <message>
        <location line="+1"/>
        <location line="+23"/>
        <source>unknown</source>
        <translation>không rõ</translation>
    </message>
    <message>
        <location line="-21"/>
        <source>motion</source>
        <translation>chuyển động</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>person</source>
        <translation>người</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>bicycle</source>
        <translation>xe đạp</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>car</source>
        <translation>ô tô</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>motorcycle</source>
        <translation>xe máy</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>bus</source>
        <translation>xe buýt</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>truck</source>
        <translation>xe tải</translation>
    </message>
    <message>
        <location line="+16"/>
        <source>{pct} % watched</source>
        <translation>đã theo dõi {pct} %</translation>
    </message>
    <message>
        <location line="+28"/>
        <source>History</source>
        <translation>Lịch sử</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Counts stored by the master, per line or zone, per class.</source>
        <translation>Số đếm do trung tâm lưu, theo vạch đếm hoặc vùng, theo loại.</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Export CSV</source>
        <translation>Xuất CSV</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Refresh</source>
        <translation>Làm mới</translation>
    </message>
    <message>
        <location line="+26"/>
        <source>Per class</source>
        <translation>Theo loại</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Range</source>
        <translation>Khoảng</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>to</source>
        <translation>đến</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>per</source>
        <translation>theo</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Camera</source>
        <translation>Camera</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Line / zone</source>
        <translation>Vạch / vùng</translation>
    </message>
    <message>
        <location line="+15"/>
        <source>count</source>
        <translation>số đếm</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>TIME</source>
        <translation>THỜI GIAN</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>CAMERA</source>
        <translation>CAMERA</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>LINE / ZONE</source>
        <translation>VẠCH / VÙNG</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>DIRECTION</source>
        <translation>HƯỚNG</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>CLASS</source>
        <translation>LOẠI</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>COUNT</source>
        <translation>SỐ ĐẾM</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>WATCHED</source>
        <translation>ĐÃ THEO DÕI</translation>
    </message>
    <message>
        <location line="+31"/>
        <source>All cameras</source>
        <translation>Tất cả camera</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>All</source>
        <translation>Tất cả</translation>
    </message>
    <message>
        <location line="+47"/>
        <source>The range ends before it starts; pick a later &apos;to&apos; time.</source>
        <translation>Khoảng thời gian kết thúc trước khi bắt đầu; hãy chọn thời điểm &apos;đến&apos; muộn hơn.</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Reading the count history…</source>
        <translation>Đang đọc lịch sử đếm…</translation>
    </message>
    <message>
        <location line="+30"/>
        <source>per {bucket}</source>
        <translation>theo {bucket}</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>{rows} rows · {n} counted {what}</source>
        <translation>{rows} dòng · đếm được {n} {what}</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Coverage unknown: no coverage data for this range (history from before it was kept)</source>
        <translation>Không rõ mức theo dõi: khoảng này không có dữ liệu theo dõi (lịch sử từ trước khi dữ liệu này được lưu)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>{watched} over the range</source>
        <translation>{watched} trong khoảng này</translation>
    </message>
    <message>
        <location line="+4"/>
        <source> · 1 gap nobody watched</source>
        <translation> · 1 khoảng không ai theo dõi</translation>
    </message>
    <message>
        <location line="+1"/>
        <source> · {n} gaps nobody watched</source>
        <translation> · {n} khoảng không ai theo dõi</translation>
    </message>
    <message>
        <location line="+67"/>
        <source>not watched: {start} – {end} ({length})</source>
        <translation>không được theo dõi: {start} – {end} ({length})</translation>
    </message>
    <message>
        <location line="+24"/>
        <source>Nothing to export: run a query that returns counts first.</source>
        <translation>Không có gì để xuất: hãy chạy một truy vấn có kết quả đếm trước.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Export counts</source>
        <translation>Xuất số đếm</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>exporting counts to {path}</source>
        <translation>xuất số đếm ra {path}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Exported {n} rows to {path}</source>
        <translation>Đã xuất {n} dòng ra {path}</translation>
    </message>
    <message>
        <location line="+13"/>
        <source>{n} min</source>
        <translation>{n} phút</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>{n} h</source>
        <translation>{n} giờ</translation>
    </message>
</context>
<context>
    <name>IntegrationsPanel</name>
    <message>
        <location filename="../ui/integrations_panel.py" line="+54"/>
        <source>Integrations</source>
        <translation>Tích hợp</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Publish counts to an MQTT broker</source>
        <translation>Gửi số đếm tới một MQTT broker</translation>
    </message>
    <message>
        <location line="+8"/>
        <location line="+35"/>
        <source>port</source>
        <translation>cổng</translation>
    </message>
    <message>
        <location line="-33"/>
        <source>Broker</source>
        <translation>Broker</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>password</source>
        <translation>mật khẩu</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>User name</source>
        <translation>Tên người dùng</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>CA certificate file (PEM) for TLS; empty: no TLS</source>
        <translation>Tệp chứng chỉ CA (PEM) cho TLS; để trống: không dùng TLS</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Browse…</source>
        <translation>Chọn tệp…</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>TLS CA</source>
        <translation>CA cho TLS</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Topic prefix</source>
        <translation>Tiền tố topic</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Home Assistant MQTT discovery (a device per camera and worker)</source>
        <translation>Tự phát hiện MQTT cho Home Assistant (mỗi camera và máy trạm là một thiết bị)</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Serve Prometheus metrics (/metrics)</source>
        <translation>Cung cấp số liệu Prometheus (/metrics)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Metrics</source>
        <translation>Số liệu</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Listen on</source>
        <translation>Lắng nghe trên</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Apply</source>
        <translation>Áp dụng</translation>
    </message>
    <message>
        <location line="+54"/>
        <source>applying the integration settings</source>
        <translation>áp dụng thiết lập tích hợp</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>The broker&apos;s CA certificate</source>
        <translation>Chứng chỉ CA của broker</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Certificates (*.pem *.crt);;All files (*)</source>
        <translation>Chứng chỉ (*.pem *.crt);;Mọi tệp (*)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>MQTT is off.</source>
        <translation>MQTT đang tắt.</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The metrics endpoint is off.</source>
        <translation>Điểm cung cấp số liệu đang tắt.</translation>
    </message>
    <message>
        <location line="+13"/>
        <source> · {n} alert event(s) waiting for the broker</source>
        <translation> · {n} sự kiện cảnh báo đang chờ gửi tới broker</translation>
    </message>
    <message>
        <location line="+3"/>
        <source> · {n} dropped (queue full)</source>
        <translation> · {n} bị bỏ (hàng đợi đầy)</translation>
    </message>
</context>
<context>
    <name>JobsModel</name>
    <message>
        <location filename="../ui/jobs_view.py" line="-145"/>
        <source>Job</source>
        <translation>Công việc</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Priority</source>
        <translation>Ưu tiên</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>State</source>
        <translation>Trạng thái</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Progress</source>
        <translation>Tiến độ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>ETA</source>
        <translation>Còn lại</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Segments</source>
        <translation>Đoạn</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Retried</source>
        <translation>Thử lại</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Files</source>
        <translation>Tệp</translation>
    </message>
</context>
<context>
    <name>JobsView</name>
    <message>
        <location line="+152"/>
        <source>Jobs</source>
        <translation>Công việc</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Recorded footage counted across the pool; live cameras come first</source>
        <translation>Đếm video đã ghi trên toàn bộ nhóm máy; camera trực tiếp luôn được ưu tiên</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Add job</source>
        <translation>Thêm công việc</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Cancel job</source>
        <translation>Hủy công việc</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Export CSV</source>
        <translation>Xuất CSV</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Printable report</source>
        <translation>Báo cáo để in</translation>
    </message>
    <message>
        <location line="+13"/>
        <source>Select a finished job to see its counts</source>
        <translation>Chọn một công việc đã xong để xem số đếm</translation>
    </message>
    <message>
        <location line="+29"/>
        <source>reading the jobs</source>
        <translation>đang đọc danh sách công việc</translation>
    </message>
    <message>
        <location line="+35"/>
        <source>reading the job&apos;s result</source>
        <translation>đang đọc kết quả công việc</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>{state}: {pct:.0f} % counted, about {eta} left</source>
        <translation>{state}: đã đếm {pct:.0f} %, còn khoảng {eta}</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>{name}: {state}, {n} segment(s), {r} retried</source>
        <translation>{name}: {state}, {n} đoạn, {r} lần thử lại</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>line {name}: in {i}, out {o}</source>
        <translation>vạch {name}: vào {i}, ra {o}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>missing {file} {a}–{b} s: {why}</source>
        <translation>thiếu {file} {a}–{b} giây: {why}</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>interval start        line   dir  class        count</source>
        <translation>bắt đầu khoảng       vạch   hướng lớp        số đếm</translation>
    </message>
    <message>
        <location line="+25"/>
        <source>checking the recordings…</source>
        <translation>đang kiểm tra các bản ghi…</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>queueing the job</source>
        <translation>đang đưa công việc vào hàng đợi</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>cancelling the job</source>
        <translation>đang hủy công việc</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Export</source>
        <translation>Xuất</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>writing the report</source>
        <translation>đang ghi báo cáo</translation>
    </message>
</context>
<context>
    <name>LineItem</name>
    <message>
        <location filename="../ui/line_editor.py" line="+139"/>
        <source>{name} · in</source>
        <translation>{name} · vào</translation>
    </message>
</context>
<context>
    <name>LineZoneEditor</name>
    <message>
        <location filename="../ui/line_editor_dialog.py" line="+44"/>
        <source>Lines and zones — {camera}</source>
        <translation>Vạch đếm và vùng — {camera}</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Lines and zones · {camera}</source>
        <translation>Vạch đếm và vùng · {camera}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Select</source>
        <translation>Chọn</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Move the round handles; Delete removes (S)</source>
        <translation>Kéo các núm tròn; phím Delete để xóa (S)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Line</source>
        <translation>Vạch đếm</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Press at the start, release at the end (L)</source>
        <translation>Nhấn ở điểm đầu, thả ở điểm cuối (L)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Zone</source>
        <translation>Vùng</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Click the corners; double-click to close (Z)</source>
        <translation>Nhấp vào các góc; nhấp đúp để khép vùng (Z)</translation>
    </message>
    <message>
        <location line="+20"/>
        <source>Shapes</source>
        <translation>Hình</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Name</source>
        <translation>Tên</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Flip direction</source>
        <translation>Đảo hướng</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Swap which way counts as &quot;in&quot;</source>
        <translation>Đổi chiều được tính là &quot;vào&quot;</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Delete</source>
        <translation>Xóa</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>The arrow points the way an object moves when it counts as &quot;in&quot;.</source>
        <translation>Mũi tên chỉ hướng di chuyển của đối tượng khi được tính là &quot;vào&quot;.</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Save and send to worker</source>
        <translation>Lưu và gửi tới máy trạm</translation>
    </message>
    <message>
        <location line="+104"/>
        <source>Line “{0}” is {1:g} px from the frame edge: objects leave the picture before their centre clears the line. Move it at least {2:g} px inside.</source>
        <translation>Vạch “{0}” cách mép khung hình {1:g} px: vật thể rời khỏi hình trước khi tâm của chúng qua vạch. Hãy dời vạch vào trong ít nhất {2:g} px.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Line “{0}”: objects move {2:g} px between two detector runs, more than its {1:g} px band. Raise the detector rate or budget, or draw the line where objects move slower.</source>
        <translation>Vạch “{0}”: vật thể di chuyển {2:g} px giữa hai lần dò, nhiều hơn dải {1:g} px của vạch. Hãy tăng tần suất hoặc giới hạn dò, hoặc vẽ vạch ở nơi vật thể di chuyển chậm hơn.</translation>
    </message>
</context>
<context>
    <name>LineZoneScene</name>
    <message>
        <location filename="../ui/line_editor.py" line="+121"/>
        <source>names must be unique; rename {names}</source>
        <translation>tên không được trùng; hãy đổi tên {names}</translation>
    </message>
</context>
<context>
    <name>LiveView</name>
    <message>
        <location filename="../ui/live_view.py" line="+29"/>
        <source>Live</source>
        <translation>Trực tiếp</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Previews with detections, tracks, counting lines and zones. Double-click a tile to enlarge.</source>
        <translation>Xem trước với đối tượng phát hiện, quỹ đạo, vạch đếm và vùng. Nhấp đúp vào một ô để phóng to.</translation>
    </message>
    <message>
        <location line="+19"/>
        <source>1 tile</source>
        <translation>1 ô</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>{n} tiles</source>
        <translation>{n} ô</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Page</source>
        <translation>Trang</translation>
    </message>
    <message>
        <location line="+50"/>
        <source>{i} of {n}</source>
        <translation>{i} / {n}</translation>
    </message>
</context>
<context>
    <name>LoadBars</name>
    <message>
        <location filename="../ui/overview_view.py" line="+49"/>
        <source>No adopted workers yet</source>
        <translation>Chưa tiếp nhận máy trạm nào</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <location filename="../ui/main_window.py" line="+43"/>
        <source>Overview</source>
        <translation>Tổng quan</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Workers</source>
        <translation>Máy trạm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Cameras</source>
        <translation>Camera</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Live</source>
        <translation>Trực tiếp</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Alerts</source>
        <translation>Cảnh báo</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>History</source>
        <translation>Lịch sử</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Settings</source>
        <translation>Cài đặt</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Jobs</source>
        <translation>Công việc</translation>
    </message>
    <message>
        <location line="+49"/>
        <source>data: {path}</source>
        <translation>dữ liệu: {path}</translation>
    </message>
    <message>
        <location line="+37"/>
        <source>control center</source>
        <translation>trung tâm điều khiển</translation>
    </message>
    <message>
        <location line="+59"/>
        <source>● {online}/{total} workers online</source>
        <translation>● {online}/{total} máy trạm trực tuyến</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>{running}/{total} cameras running</source>
        <translation>{running}/{total} camera đang chạy</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{n} counts/min</source>
        <translation>{n} lượt đếm/phút</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>  {workers} ({n} new)</source>
        <translation>  {workers} ({n} mới)</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>{online} of {total} workers online</source>
        <translation>{online}/{total} máy trạm trực tuyến</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{running} of {total} cameras running</source>
        <translation>{running}/{total} camera đang chạy</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>policy: {name}</source>
        <translation>chính sách: {name}</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>CamPool — critical alert</source>
        <translation>CamPool — cảnh báo nghiêm trọng</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Critical alert: {text}</source>
        <translation>Cảnh báo nghiêm trọng: {text}</translation>
    </message>
</context>
<context>
    <name>OnvifScanDialog</name>
    <message>
        <location filename="../ui/onvif_scan_dialog.py" line="+95"/>
        <source>Scan the LAN for ONVIF cameras</source>
        <translation>Quét mạng LAN tìm camera ONVIF</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>ONVIF cameras on this network</source>
        <translation>Camera ONVIF trong mạng này</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Scan again</source>
        <translation>Quét lại</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Ask the LAN again (WS-Discovery, 3 s)</source>
        <translation>Hỏi lại mạng LAN (WS-Discovery, 3 giây)</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>the camera&apos;s password (kept in the OS keyring once added)</source>
        <translation>mật khẩu của camera (được giữ trong kho khóa của hệ điều hành sau khi thêm)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Read its streams</source>
        <translation>Đọc các luồng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Log in and list the camera&apos;s streams</source>
        <translation>Đăng nhập và liệt kê các luồng của camera</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>User</source>
        <translation>Người dùng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Password</source>
        <translation>Mật khẩu</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Stream</source>
        <translation>Luồng</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Use this stream</source>
        <translation>Dùng luồng này</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Scanning…</source>
        <translation>Đang quét…</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>{n} camera(s) answered. Give the credentials and read the streams.</source>
        <translation>{n} camera đã trả lời. Nhập thông tin đăng nhập và đọc các luồng.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>No ONVIF camera answered. Check that ONVIF is on in the camera (some ship with it off), that it is on this network segment, or type its RTSP address instead.</source>
        <translation>Không camera ONVIF nào trả lời. Kiểm tra ONVIF đã bật trên camera (có loại xuất xưởng ở trạng thái tắt), camera ở cùng phân đoạn mạng này, hoặc nhập trực tiếp địa chỉ RTSP của nó.</translation>
    </message>
    <message>
        <location line="+16"/>
        <source>Reading the streams of {camera}…</source>
        <translation>Đang đọc các luồng của {camera}…</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>size not given</source>
        <translation>không rõ kích thước</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{n} stream(s). The first is usually the main one.</source>
        <translation>{n} luồng. Luồng đầu tiên thường là luồng chính.</translation>
    </message>
</context>
<context>
    <name>OverviewView</name>
    <message>
        <location filename="../ui/overview_view.py" line="+35"/>
        <source>Overview</source>
        <translation>Tổng quan</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The whole pool at a glance.</source>
        <translation>Toàn bộ cụm máy trong nháy mắt.</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Workers</source>
        <translation>Máy trạm</translation>
    </message>
    <message>
        <location line="+0"/>
        <location line="+56"/>
        <source>Cameras</source>
        <translation>Camera</translation>
    </message>
    <message>
        <location line="-55"/>
        <source>Throughput</source>
        <translation>Lưu lượng</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Avg latency</source>
        <translation>Độ trễ TB</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Error rate</source>
        <translation>Tỷ lệ lỗi</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>CPU · Memory</source>
        <translation>CPU · Bộ nhớ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Headroom</source>
        <translation>Còn trống</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Throughput · counts per minute</source>
        <translation>Lưu lượng · lượt đếm mỗi phút</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>Load distribution</source>
        <translation>Phân bổ tải</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>cameras / capacity (blue) and CPU (amber) per worker</source>
        <translation>camera / sức chứa (xanh) và CPU (vàng cam) của từng máy trạm</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>Open alerts</source>
        <translation>Cảnh báo đang mở</translation>
    </message>
    <message>
        <location line="+24"/>
        <source>{n} failed</source>
        <translation>{n} hỏng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source> · {n} to adopt</source>
        <translation> · {n} chờ tiếp nhận</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>running · {n} failing</source>
        <translation>đang chạy · {n} lỗi</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{n}/min</source>
        <translation>{n}/phút</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>{n} frames/s processed</source>
        <translation>xử lý {n} khung/giây</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>frame to count, running cameras</source>
        <translation>từ khung hình tới lượt đếm</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>assigned cameras failing</source>
        <translation>camera đã giao đang lỗi</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>GPU {pct} · averages of active workers</source>
        <translation>GPU {pct} · TB các máy trạm chạy</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>slots free · {n} lowered</source>
        <translation>chỗ trống · {n} camera bị giảm</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>slots free · none lowered</source>
        <translation>chỗ trống · không camera nào bị giảm</translation>
    </message>
    <message>
        <location line="+22"/>
        <source>All clear: no open alerts</source>
        <translation>Mọi thứ ổn: không có cảnh báo đang mở</translation>
    </message>
    <message>
        <location line="+20"/>
        <source>No cameras yet: add some in Cameras (Ctrl+3)</source>
        <translation>Chưa có camera: thêm trong mục Camera (Ctrl+3)</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>{camera}  ·  {worker}  ·  {fps} fps  ·  {n} counted</source>
        <translation>{camera}  ·  {worker}  ·  {fps} fps  ·  đã đếm {n}</translation>
    </message>
</context>
<context>
    <name>Policy</name>
    <message>
        <location filename="../ui/display.py" line="+213"/>
        <source>hybrid</source>
        <translation>kết hợp</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>priority, then GPU capability, then load, then site</source>
        <translation>ưu tiên, rồi năng lực GPU, rồi tải, rồi địa điểm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>least loaded</source>
        <translation>tải thấp nhất</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>the worker with the lowest load</source>
        <translation>máy trạm có tải thấp nhất</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>round robin</source>
        <translation>xoay vòng</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>workers in turn</source>
        <translation>lần lượt từng máy trạm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>capability</source>
        <translation>năng lực</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>the best GPU gets the AI work</source>
        <translation>GPU mạnh nhất nhận việc AI</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>priority</source>
        <translation>ưu tiên</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>critical cameras first, onto the strongest workers</source>
        <translation>camera quan trọng trước, lên các máy trạm mạnh nhất</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>site</source>
        <translation>địa điểm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>keep cameras on workers of their own site</source>
        <translation>giữ camera trên máy trạm cùng địa điểm</translation>
    </message>
</context>
<context>
    <name>PoolBridge</name>
    <message>
        <location filename="../ui/bridge.py" line="+213"/>
        <source>adopting worker {id}</source>
        <translation>tiếp nhận máy trạm {id}</translation>
    </message>
    <message>
        <location line="+5"/>
        <location line="+10"/>
        <source>auto</source>
        <translation>tự động</translation>
    </message>
    <message>
        <location line="-4"/>
        <source>moving {n} camera(s) to {target}</source>
        <translation>chuyển {n} camera tới {target}</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>setting the standby of {n} camera(s) to {target}</source>
        <translation>đặt dự phòng của {n} camera cho {target}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>adding camera {id}</source>
        <translation>thêm camera {id}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>updating camera {id}</source>
        <translation>cập nhật camera {id}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>removing camera {id}</source>
        <translation>xóa camera {id}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>draining worker {id}</source>
        <translation>rút camera khỏi máy trạm {id}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>acknowledging alert {id}</source>
        <translation>xác nhận cảnh báo {id}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>resolving alert {id}</source>
        <translation>đóng cảnh báo {id}</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>switching to the {name} policy</source>
        <translation>chuyển sang chính sách {name}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>starting the preview of {id}</source>
        <translation>bật xem trước của {id}</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>stopping the preview of {id}</source>
        <translation>tắt xem trước của {id}</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>reading the count history</source>
        <translation>đọc lịch sử đếm</translation>
    </message>
    <message>
        <location line="+25"/>
        <source>{what} is not known (it may have been removed)</source>
        <translation>không tìm thấy {what} (có thể đã bị xóa)</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Failed {what}: {error}</source>
        <translation>Không thể {what}: {error}</translation>
    </message>
</context>
<context>
    <name>PreviewTile</name>
    <message>
        <location filename="../ui/preview_tile.py" line="+72"/>
        <source>Empty tile
assign a camera</source>
        <translation>Ô trống
hãy giao một camera</translation>
    </message>
    <message>
        <location line="+24"/>
        <source>Not running — no worker has it yet</source>
        <translation>Không chạy — chưa có máy trạm nào nhận</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Waiting for preview…</source>
        <translation>Đang chờ hình xem trước…</translation>
    </message>
    <message>
        <location line="+75"/>
        <source>{line}  in {n_in}  out {n_out}</source>
        <translation>{line}  vào {n_in}  ra {n_out}</translation>
    </message>
</context>
<context>
    <name>Priority</name>
    <message>
        <location filename="../ui/display.py" line="+17"/>
        <source>critical</source>
        <translation>nghiêm trọng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>high</source>
        <translation>cao</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>normal</source>
        <translation>bình thường</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>low</source>
        <translation>thấp</translation>
    </message>
</context>
<context>
    <name>QPlatformTheme</name>
    <message>
        <location filename="../ui/i18n.py" line="+85"/>
        <source>OK</source>
        <translation>OK</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Cancel</source>
        <translation>Hủy</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Save</source>
        <translation>Lưu</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Close</source>
        <translation>Đóng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Apply</source>
        <translation>Áp dụng</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Yes</source>
        <translation>Có</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>No</source>
        <translation>Không</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Help</source>
        <translation>Trợ giúp</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Discard</source>
        <translation>Bỏ</translation>
    </message>
</context>
<context>
    <name>SegmentsModel</name>
    <message>
        <location filename="../ui/jobs_view.py" line="-331"/>
        <source>#</source>
        <translation>#</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>File</source>
        <translation>Tệp</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Stretch</source>
        <translation>Khoảng</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>State</source>
        <translation>Trạng thái</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Progress</source>
        <translation>Tiến độ</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Worker</source>
        <translation>Máy trạm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Try</source>
        <translation>Lần thử</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Last error</source>
        <translation>Lỗi gần nhất</translation>
    </message>
</context>
<context>
    <name>SettingsView</name>
    <message>
        <location filename="../ui/settings_view.py" line="+21"/>
        <source>Settings</source>
        <translation>Cài đặt</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Applies at once and is remembered.</source>
        <translation>Áp dụng ngay và được ghi nhớ.</translation>
    </message>
    <message>
        <location line="+20"/>
        <source>(not set)</source>
        <translation>(chưa đặt)</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Open</source>
        <translation>Mở</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Data location</source>
        <translation>Nơi lưu dữ liệu</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The count history, events, worker metrics, alerts and keys (SQLite). Set with --data-dir or CAMPOOL_DATA_DIR.</source>
        <translation>Lịch sử đếm, sự kiện, số liệu máy trạm, cảnh báo và khóa (SQLite). Đặt bằng --data-dir hoặc CAMPOOL_DATA_DIR.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>(unknown)</source>
        <translation>(không rõ)</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Copy</source>
        <translation>Sao chép</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Control center key</source>
        <translation>Khóa trung tâm điều khiển</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Workers trust this key once adopted. To trust it without pairing, start a worker with  --accept-master=&lt;key&gt;.</source>
        <translation>Máy trạm tin cậy khóa này sau khi được tiếp nhận. Để tin cậy mà không cần ghép nối, hãy khởi động máy trạm với  --accept-master=&lt;khóa&gt;.</translation>
    </message>
    <message>
        <location line="+4"/>
        <location line="+9"/>
        <source>Follow the system</source>
        <translation>Theo hệ thống</translation>
    </message>
    <message>
        <location line="-9"/>
        <source>Dark</source>
        <translation>Tối</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Light</source>
        <translation>Sáng</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Theme</source>
        <translation>Giao diện</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Language</source>
        <translation>Ngôn ngữ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Applies at the next start of the control center.</source>
        <translation>Áp dụng từ lần khởi động tiếp theo của trung tâm điều khiển.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Placement policy</source>
        <translation>Chính sách phân bổ</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>CamPool control center {version} · workers are found on the LAN by zeroconf and trusted by key (adoption).</source>
        <translation>Trung tâm điều khiển CamPool {version} · máy trạm được tìm thấy trong mạng LAN bằng zeroconf và được tin cậy bằng khóa (tiếp nhận).</translation>
    </message>
</context>
<context>
    <name>State</name>
    <message>
        <location filename="../ui/display.py" line="-225"/>
        <source>discovered</source>
        <translation>mới phát hiện</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>adopting</source>
        <translation>đang tiếp nhận</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>online</source>
        <translation>trực tuyến</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>busy</source>
        <translation>bận</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>degraded</source>
        <translation>suy giảm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>offline</source>
        <translation>ngoại tuyến</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>draining</source>
        <translation>đang rút</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>unassigned</source>
        <translation>chưa giao</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>assigning</source>
        <translation>đang giao</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>starting</source>
        <translation>đang khởi động</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>running</source>
        <translation>đang chạy</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>reconnecting</source>
        <translation>đang kết nối lại</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>failed</source>
        <translation>lỗi</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>retrying</source>
        <translation>đang thử lại</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>failed everywhere</source>
        <translation>lỗi ở mọi nơi</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>waiting</source>
        <translation>đang chờ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>stopped</source>
        <translation>đã dừng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>open</source>
        <translation>đang mở</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>acknowledged</source>
        <translation>đã xác nhận</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>resolved</source>
        <translation>đã xử lý</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>info</source>
        <translation>thông tin</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>warning</source>
        <translation>cảnh báo</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>error</source>
        <translation>lỗi</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>critical</source>
        <translation>nghiêm trọng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>hot</source>
        <translation>nóng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>warm</source>
        <translation>ấm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>none</source>
        <translation>không</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>ready</source>
        <translation>sẵn sàng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>connected</source>
        <translation>đã kết nối</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>connecting</source>
        <translation>đang kết nối</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>serving</source>
        <translation>đang phục vụ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>failing</source>
        <translation>đang lỗi</translation>
    </message>
</context>
<context>
    <name>Storage</name>
    <message>
        <location line="+17"/>
        <source>failing: {n} count(s) held in memory, not yet stored</source>
        <translation>lỗi: {n} lượt đếm đang giữ trong bộ nhớ, chưa được lưu</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>low: {mb} MB free</source>
        <translation>sắp hết: còn trống {mb} MB</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>ok · {mb} MB free</source>
        <translation>ổn · còn trống {mb} MB</translation>
    </message>
</context>
<context>
    <name>WorkerCard</name>
    <message>
        <location filename="../ui/worker_card.py" line="-249"/>
        <source>CPU</source>
        <translation>CPU</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Memory</source>
        <translation>Bộ nhớ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>GPU</source>
        <translation>GPU</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>FPS</source>
        <translation>FPS</translation>
    </message>
    <message>
        <location line="+124"/>
        <source>Found on the LAN. Adopt it to trust its key and give it cameras.</source>
        <translation>Tìm thấy trong mạng LAN. Tiếp nhận để tin cậy khóa của nó và giao camera cho nó.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Adopt…</source>
        <translation>Tiếp nhận…</translation>
    </message>
    <message>
        <location line="+24"/>
        <source>GPU {name}</source>
        <translation>GPU {name}</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>CPU only</source>
        <translation>chỉ CPU</translation>
    </message>
    <message>
        <location line="+3"/>
        <source> · last seen {ago} ago</source>
        <translation> · thấy lần cuối {ago} trước</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Worker key  {key}</source>
        <translation>Khóa máy trạm  {key}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Cameras {n} / {cap}</source>
        <translation>Camera {n} / {cap}</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>n/a</source>
        <translation>không có</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>no cameras yet — drag some here</source>
        <translation>chưa có camera — hãy kéo vào đây</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Standby for {cameras}</source>
        <translation>Dự phòng cho {cameras}</translation>
    </message>
    <message>
        <location line="+13"/>
        <source>Storage {state}</source>
        <translation>Lưu trữ {state}</translation>
    </message>
</context>
<context>
    <name>WorkerDetails</name>
    <message>
        <location filename="../ui/worker_details.py" line="+31"/>
        <source>CPU %</source>
        <translation>CPU %</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Memory %</source>
        <translation>Bộ nhớ %</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>GPU %</source>
        <translation>GPU %</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>FPS</source>
        <translation>FPS</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Status</source>
        <translation>Trạng thái</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Address</source>
        <translation>Địa chỉ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>GPU</source>
        <translation>GPU</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Version</source>
        <translation>Phiên bản</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Uptime</source>
        <translation>Thời gian chạy</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Success rate</source>
        <translation>Tỷ lệ thành công</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Jobs</source>
        <translation>Công việc</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Cameras</source>
        <translation>Camera</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Storage</source>
        <translation>Lưu trữ</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Last seen</source>
        <translation>Thấy lần cuối</translation>
    </message>
    <message>
        <location line="+26"/>
        <source>Close the details</source>
        <translation>Đóng chi tiết</translation>
    </message>
    <message>
        <location line="+22"/>
        <source>Load history</source>
        <translation>Lịch sử tải</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>seconds ago</source>
        <translation>giây trước</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Cameras on this worker</source>
        <translation>Camera trên máy trạm này</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Masters it serves</source>
        <translation>Các trung tâm nó phục vụ</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Events</source>
        <translation>Sự kiện</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Drain</source>
        <translation>Rút camera</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Move this worker&apos;s cameras elsewhere and give it no new ones</source>
        <translation>Chuyển camera của máy trạm này đi nơi khác và không giao thêm camera mới</translation>
    </message>
    <message>
        <location line="+15"/>
        <source>none (CPU only)</source>
        <translation>không có (chỉ CPU)</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>{ok} done · {failed} failed</source>
        <translation>{ok} xong · {failed} lỗi</translation>
    </message>
    <message>
        <location line="+3"/>
        <source> · standby for {n}</source>
        <translation> · dự phòng cho {n}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>{ago} ago</source>
        <translation>{ago} trước</translation>
    </message>
    <message>
        <location line="+13"/>
        <source>{camera}   {mode} standby · {state}</source>
        <translation>{camera}   dự phòng {mode} · {state}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>ready to take over camera {camera} (epoch {epoch})</source>
        <translation>sẵn sàng tiếp quản camera {camera} (phiên {epoch})</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>CURVE public key {key}</source>
        <translation>Khóa công khai CURVE {key}</translation>
    </message>
    <message>
        <location line="+49"/>
        <source>key from the worker&apos;s settings</source>
        <translation>khóa từ thiết lập của máy trạm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source> · since {when}</source>
        <translation> · từ {when}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>   (this control center)</source>
        <translation>   (trung tâm điều khiển này)</translation>
    </message>
</context>
<context>
    <name>WorkersView</name>
    <message>
        <location filename="../ui/workers_view.py" line="+21"/>
        <source>Workers</source>
        <translation>Máy trạm</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Edge boxes running cameras. Drag cameras onto a card to pin them there.</source>
        <translation>Các máy biên chạy camera. Kéo camera lên một thẻ để ghim vào máy đó.</translation>
    </message>
    <message>
        <location line="+20"/>
        <source>Found on the LAN</source>
        <translation>Tìm thấy trong mạng LAN</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Adopted workers</source>
        <translation>Máy trạm đã tiếp nhận</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>No workers yet. Start `campool-worker serve` on an edge box on this LAN; it appears here within seconds.</source>
        <translation>Chưa có máy trạm. Chạy `campool-worker serve` trên một máy biên trong mạng LAN này; nó sẽ hiện ở đây sau vài giây.</translation>
    </message>
    <message>
        <location line="+75"/>
        <source>Adopted workers  ·  {n}</source>
        <translation>Máy trạm đã tiếp nhận  ·  {n}</translation>
    </message>
</context>
<context>
    <name>_TargetDelegate</name>
    <message>
        <location filename="../ui/cameras_view.py" line="-244"/>
        <source>Auto (balancer)</source>
        <translation>Tự động (cân bằng tải)</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>unpin: the balancer places them</source>
        <translation>bỏ ghim: bộ cân bằng tải sẽ đặt chúng</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>{state} · {n}/{cap} cameras</source>
        <translation>{state} · {n}/{cap} camera</translation>
    </message>
</context>
</TS>
