// The page's words, in Vietnamese (the default) and English, and the formats of times and
// durations in the hub's time zone. `t(key, values)` fills {name} placeholders.

const STRINGS = {
  vi: {
    app_title: "Tiếng chuông cảnh báo",
    skip: "Bỏ qua, đến nội dung chính",
    username: "Tên đăng nhập",
    password: "Mật khẩu",
    login: "Đăng nhập",
    logging_in: "Đang đăng nhập…",
    logout: "Đăng xuất",
    language: "Ngôn ngữ",
    bad_credentials: "Sai tên đăng nhập hoặc mật khẩu.",
    rate_limited: "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút.",
    session_expired: "Phiên đăng nhập đã kết thúc. Vui lòng đăng nhập lại.",
    signed_in_as: "{user} ({role})",
    role_viewer: "chỉ xem",
    role_officer: "cán bộ trực",
    role_admin: "quản trị",
    tabs: "Các mục",
    tab_board: "Bảng trực",
    tab_buttons: "Nút bấm",
    tab_sites: "Cơ sở",
    tab_history: "Lịch sử",
    tab_report: "Báo cáo tháng",
    enable_sound: "Bật âm thanh cảnh báo",
    sound_on: "Âm thanh đang bật",
    conn_live: "● Đã kết nối",
    conn_connecting: "● Đang kết nối…",
    conn_lost: "● MẤT KẾT NỐI",
    lost_banner:
      "MẤT KẾT NỐI VỚI MÁY CHỦ TRỰC BAN từ {time}: trang này KHÔNG nhận được báo động mới! Đang tự kết nối lại… Nếu kéo dài, hãy kiểm tra máy chủ và báo cán bộ kỹ thuật.",
    broker_banner:
      "Máy chủ trực ban MẤT LIÊN LẠC với bộ nhận tín hiệu nút bấm: báo động từ các cơ sở có thể không về tới! Báo ngay cán bộ kỹ thuật.",
    standby_banner:
      "Đây là máy chủ DỰ PHÒNG: chỉ xem, không thao tác được. Máy chủ chính đang trực; máy này tự thay khi máy chính ngừng.",
    session_ends_soon: "Phiên đăng nhập hết hạn lúc {time}. Hãy đăng xuất rồi đăng nhập lại khi thuận tiện.",
    open_alarms: "Báo động đang mở",
    no_alarms: "Không có báo động nào đang mở.",
    troubles: "Sự cố kỹ thuật",
    no_troubles: "Không có sự cố kỹ thuật.",
    troubles_seen: "Đã xem các sự cố",
    state_active: "CHƯA TIẾP NHẬN",
    state_acknowledged: "ĐÃ TIẾP NHẬN",
    state_resolved: "ĐÃ KẾT THÚC",
    alarm_id: "Mã báo động",
    raised_at: "Báo lúc {time}",
    ago: "{duration} trước",
    presses: "Số lần bấm",
    repeated: "bấm lặp lại!",
    lost_together: "Các nút này cùng mất kết nối (mất điện, mất Wi-Fi hoặc bị phá?)",
    level: "Mức leo thang",
    buttons: "Nút",
    address: "Địa chỉ",
    phone: "Điện thoại",
    unregistered: "NÚT CHƯA ĐĂNG KÝ",
    unknown_site: "Không rõ cơ sở (nút chưa đăng ký)",
    test_flag: "THỬ NGHIỆM",
    acknowledge: "Tiếp nhận",
    resolve: "Kết thúc…",
    details: "Chi tiết",
    acknowledged_by: "Tiếp nhận bởi {who} lúc {time} (sau {wait})",
    person_acks: "Đã xác nhận qua điện thoại: {who}",
    resolve_needs_ack: "Cán bộ trực cần tiếp nhận trước khi kết thúc.",
    post_of: "Đơn vị: {name}",
    post_handles: "Công an xã tiếp nhận và kết thúc báo động này; huyện theo dõi và gọi điện cho xã.",
    viewer_readonly: "Tài khoản chỉ xem: không tiếp nhận, không kết thúc được.",
    resolve_title: "Kết thúc báo động {id}",
    outcome: "Kết quả",
    outcome_genuine: "Có sự việc thật",
    outcome_false_alarm: "Báo động nhầm",
    outcome_test: "Thử nghiệm",
    outcome_other: "Khác",
    outcome_open: "Chưa kết thúc",
    note: "Ghi chú (bắt buộc)",
    note_hint: "Ví dụ: tổ tuần tra đã đến lúc 14:10, khách bấm nhầm.",
    confirm_resolve: "Kết thúc báo động",
    cancel: "Hủy",
    close: "Đóng",
    note_required: "Vui lòng ghi chú điều đã xảy ra.",
    outcome_required: "Vui lòng chọn kết quả.",
    detail_title: "Báo động {id}",
    audit_trail: "Nhật ký xử lý",
    press_list: "Các lần bấm",
    time: "Thời gian",
    by: "Người / nguồn",
    action: "Việc",
    type: "Loại",
    battery: "Pin",
    note_short: "Ghi chú",
    err_network: "Không gửi được yêu cầu tới máy chủ trực ban. Kiểm tra kết nối mạng.",
    err_forbidden: "Không được phép: {detail}",
    err_conflict: "Không thực hiện được: {detail}",
    err_generic: "Lỗi {status}: {detail}",
    all: "Tất cả",
    search_text: "Tìm",
    site: "Cơ sở",
    status: "Trạng thái",
    online: "Trực tuyến",
    offline: "Mất kết nối",
    unknown: "Chưa rõ",
    low_battery: "Pin yếu",
    test_mode: "Chế độ thử",
    yes: "Có",
    no: "Không",
    shown: "Hiển thị {n} / {total}",
    col_button: "Mã nút",
    col_label: "Vị trí lắp",
    col_last_seen: "Liên lạc lần cuối",
    col_registered: "Đã đăng ký",
    col_site_name: "Tên cơ sở",
    col_buttons: "Số nút",
    from_date: "Từ ngày",
    to_date: "Đến ngày",
    state: "Trạng thái",
    only_resolved: "Đã kết thúc",
    any_state: "Mọi trạng thái",
    search: "Tìm kiếm",
    export_csv: "Xuất CSV",
    more: "Xem thêm",
    no_results: "Không có kết quả.",
    col_raised: "Thời điểm báo",
    col_ack: "Tiếp nhận",
    col_resolved: "Kết thúc",
    month: "Tháng",
    show_report: "Xem báo cáo",
    print: "In báo cáo",
    report_title: "Báo cáo tháng {month} — {post}",
    report_period: "Từ {from} đến trước {to} (giờ {tz}). Lập lúc {generated}.",
    col_alarms: "Số báo động",
    col_tests: "Thử nghiệm",
    col_ack_median: "Tiếp nhận (trung vị)",
    col_ack_max: "Lâu nhất",
    col_within: "Tiếp nhận ≤ 30 s / ≤ 60 s",
    col_unacked: "Không tiếp nhận",
    col_false_12m: "Báo nhầm trong 12 tháng",
    total: "Tổng cộng",
    unregistered_buttons: "Nút chưa đăng ký",
    title_alarm: "‼ BÁO ĐỘNG ({n})",
    new_alarm: "Báo động mới: {site}",
    duration_s: "{s} giây",
    duration_ms: "{m} phút {s} giây",
    duration_hm: "{h} giờ {m} phút",
    duration_dh: "{d} ngày {h} giờ",
    trouble_since: "từ {time}",
    "trouble.tamper": "Nút bị tháo hoặc can thiệp",
    "trouble.bad_messages": "Nút gửi tin sai định dạng",
    "trouble.broker_disconnected": "Mất liên lạc với bộ nhận tín hiệu nút bấm",
    "trouble.session_lost": "Bộ nhận tín hiệu khởi động lại (tin có thể bị mất)",
    "trouble.internal_error": "Lỗi trong máy chủ trực ban",
    "trouble.store_unwritable": "Máy chủ trực ban không ghi được dữ liệu",
    "trouble.offline": "Nút mất kết nối",
    "trouble.low_battery": "Nút sắp hết pin",
    "trouble.clock_skew": "Đồng hồ của nút bị lệch",
    "trouble.notifier_failing": "Không gửi được thông báo",
    "trouble.post_silent": "Công an xã mất liên lạc",
    "trouble.upstream_lost": "Mất liên lạc với công an huyện",
    "action.alarm.raised": "Phát sinh báo động",
    "action.alarm.press": "Bấm lặp lại",
    "action.alarm.joined": "Thêm nút của cùng cơ sở",
    "action.alarm.acknowledged": "Tiếp nhận",
    "action.alarm.person_acknowledged": "Một người xác nhận qua điện thoại",
    "action.alarm.resolved": "Kết thúc",
    "action.alarm.escalated": "Leo thang",
    "action.button.cancel_requested": "Nút gửi yêu cầu hủy",
    "action.button.tamper": "Nút bị can thiệp",
    conn_degraded: "● Mất tín hiệu nút bấm",
    go_to_board: "Xem bảng trực",
    alarm_banner: "BÁO ĐỘNG CHƯA TIẾP NHẬN: {sites}",
    alarm_banner_more: "{sites} và {n} nơi khác",
    sound_gate_first:
      "Trình duyệt giữ im lặng cho tới khi bạn bấm nút này. Hãy bấm ngay để nghe được chuông khi có báo động.",
    sound_gate_reload:
      "ÂM THANH ĐANG TẮT: trang vừa được tải lại và trình duyệt chặn âm thanh cho tới khi có người bấm vào trang. Bấm nút này (hoặc bất kỳ đâu trên trang) để bật lại.",
    sound_gate_alarm: "CÓ BÁO ĐỘNG NHƯNG ÂM THANH ĐANG TẮT! Bấm nút này để bật chuông.",
    date_placeholder: "dd/mm/yyyy",
    date_hint: "Ngày ghi dạng ngày/tháng/năm, ví dụ 05/12/2026.",
    bad_date: "Ngày không hợp lệ: «{value}». Hãy ghi dạng ngày/tháng/năm, ví dụ 05/12/2026.",
    month_option: "Tháng {m}/{y}",
    escalated: "Đã báo lên cấp trên (lần {n})",
    col_other: "Khác",
    col_tests_title: "Báo động thử nghiệm: nút hoặc cơ sở ở chế độ thử, hoặc kết thúc với kết quả “thử nghiệm”",
    subject_hub: "Máy chủ trực ban",
    subject_post: "Công an xã {name}",
    subject_site: "Cơ sở {name}",
    actor_hub: "Hệ thống",
    actor_token: "ứng dụng kết nối «{name}»",
    actor_link: "{name} (qua liên kết trong tin nhắn)",
    actor_button: "nút {name}",
    tech_detail: "Thông tin cho cán bộ kỹ thuật",
    "trouble.test_mode": "Nút đang ở chế độ thử",
    "trouble.site_test_mode": "Cơ sở đang ở chế độ thử",
    "trouble.possible_forgery": "Nghi có tín hiệu giả mạo",
    "trouble.other": "Sự cố kỹ thuật khác",
    kind: "Loại báo động",
    "kind.holdup": "Cướp giật / đột nhập",
    "kind.fire": "Cháy",
    "kind.medical": "Cấp cứu y tế",
    "kind.assistance": "Cần hỗ trợ",
    "kind.comm_loss": "Mất liên lạc",
    report_kinds: "Báo động theo loại",
    col_kind_alarms: "Số báo động thật",
    press_patterns: "Kiểu bấm báo loại khác",
    press_patterns_hint: "Ví dụ: long_press=fire (bấm giữ là cháy). Mỗi dòng một kiểu bấm.",
    "help.tamper": "Vỏ nút bị mở hoặc nút bị gỡ khỏi chỗ lắp. Gọi cho cơ sở để kiểm tra.",
    "help.bad_messages": "Nút gửi tin không đọc được (lỗi cài đặt hoặc lỗi nút). Báo cán bộ kỹ thuật.",
    "help.broker_disconnected": "Báo động từ các cơ sở có thể không về tới. Báo ngay cán bộ kỹ thuật.",
    "help.session_lost": "Bộ nhận tín hiệu đã khởi động lại: tin báo trong lúc đó có thể bị mất. Gọi các cơ sở hỏi lại và báo cán bộ kỹ thuật.",
    "help.internal_error": "Máy chủ trực ban gặp lỗi khi xử lý một tin. Báo cán bộ kỹ thuật.",
    "help.store_unwritable": "Máy chủ không ghi được dữ liệu (ổ đĩa đầy hoặc hỏng): tin báo đang phải chờ. Báo ngay cán bộ kỹ thuật.",
    "help.offline": "Nút không còn gửi tín hiệu định kỳ. Gọi cho cơ sở kiểm tra điện và Wi-Fi.",
    "help.low_battery": "Cần thay pin sớm.",
    "help.low_battery_level": "Pin còn {battery}%. Cần thay pin sớm.",
    "help.clock_skew": "Đồng hồ trong nút bị lệch; báo động vẫn được nhận. Báo cán bộ kỹ thuật khi thuận tiện.",
    "help.notifier_failing": "Không gửi được tin nhắn báo động ra ngoài. Kiểm tra mạng và báo cán bộ kỹ thuật.",
    "help.post_silent": "Không nhận được tín hiệu từ công an xã này: báo động ở đó có thể không tới được huyện. Gọi điện cho công an xã.",
    "help.upstream_lost": "Huyện đang không thấy báo động của xã. Báo động vẫn được ghi ở đây và sẽ tự gửi lên khi có lại liên lạc. Báo động khẩn thì gọi điện cho huyện; báo cán bộ kỹ thuật.",
    "help.test_mode": "Bấm nút này chỉ được ghi là thử nghiệm, không thành báo động thật. Nhớ tắt chế độ thử khi xong.",
    "help.site_test_mode": "Bấm các nút của cơ sở chỉ được ghi là thử nghiệm, không thành báo động thật. Nhớ tắt chế độ thử khi xong.",
    "help.possible_forgery": "Một tin báo động không mang chữ ký đúng của nút nên không được tính. Có thể có người giả tín hiệu: gọi cho cơ sở và báo cán bộ kỹ thuật.",
    "help.other": "Báo cán bộ kỹ thuật.",
    "action.escalation.steps": "Chuyển báo lên cấp trên",
    "action.escalation.stopped": "Ngừng chuyển báo",
    "action.notify.queued": "Chuẩn bị gửi tin nhắn",
    "action.notify.attempt": "Đang gửi tin nhắn",
    "action.notify.delivered": "Đã gửi tin nhắn",
    "action.notify.failed": "Gửi tin nhắn không được",
    "action.button.online": "Nút có kết nối",
    "action.button.offline": "Nút mất kết nối",
    col_actions: "Thao tác",
    position: "Vị trí",
    tab_users: "Người dùng",
    site_add: "Thêm cơ sở",
    button_add: "Thêm nút",
    site_id: "Mã cơ sở (chữ thường, số, dấu -)",
    remove_site: "Xóa cơ sở {name}? (Cần xóa hoặc chuyển các nút của cơ sở trước.)",
    remove_button: "Xóa nút {name}? Nút sẽ không còn báo động được cho cơ sở.",
    registry_export: "Tải về danh sách cơ sở và nút (tệp TOML)",
    user_add: "Thêm người dùng",
    role: "Vai trò",
    open_sessions: "Đang đăng nhập",
    change_role: "Sửa người dùng {name}",
    change_role_short: "Sửa",
    display_name: "Họ tên (hiện trên trang)",
    reset_password: "Đặt mật khẩu mới cho {name} (các phiên đăng nhập của họ sẽ kết thúc)",
    reset_password_short: "Đặt lại mật khẩu",
    new_password: "Mật khẩu (ít nhất 8 ký tự)",
    remove_user: "Xóa người dùng {name}? Họ sẽ không đăng nhập được nữa.",
    remove: "Xóa",
    night_mode: "Chế độ ban đêm",
    ack_note: "Đã làm gì? (không bắt buộc)",
    test_mode_title: "Bật chế độ thử: {name}",
    test_duration: "Trong bao lâu? (tự tắt sau đó)",
    hours: "{n} giờ",
    minutes: "{n} phút",
    test_ends_sentence: "Tự tắt lúc {time}.",
    until_turned_off: "Cho tới khi tắt bằng tay",
    test_ends: "tự tắt lúc {time}",
    edit: "Sửa",
    save: "Lưu",
    edit_site: "Sửa cơ sở {name}",
    edit_button: "Sửa nút {id}",
    no_site: "(chưa gắn cơ sở)",
    test_mode_on: "Bật chế độ thử",
    test_mode_off: "Tắt chế độ thử",
    clear_trouble: "Xóa sự cố (đã kiểm tra)",
    clear_trouble_title: "Xóa sự cố sau khi đã kiểm tra",
    clear_trouble_note: "Đã kiểm tra những gì? (bắt buộc)",
    "action.registry.site_added": "Thêm cơ sở",
  },
  en: {
    app_title: "Warning bell",
    skip: "Skip to the main content",
    username: "User name",
    password: "Password",
    login: "Log in",
    logging_in: "Logging in…",
    logout: "Log out",
    language: "Language",
    bad_credentials: "Wrong user name or password.",
    rate_limited: "Too many failed logins. Please try again in {minutes} minute(s).",
    session_expired: "Your session has ended. Please log in again.",
    signed_in_as: "{user} ({role})",
    role_viewer: "viewer",
    role_officer: "duty officer",
    role_admin: "admin",
    tabs: "Sections",
    tab_board: "Board",
    tab_buttons: "Buttons",
    tab_sites: "Sites",
    tab_history: "History",
    tab_report: "Monthly report",
    enable_sound: "Turn on the alarm sound",
    sound_on: "Sound is on",
    conn_live: "● Connected",
    conn_connecting: "● Connecting…",
    conn_lost: "● CONNECTION LOST",
    lost_banner:
      "LOST CONTACT WITH THE POST'S SERVER since {time}: this page is NOT receiving new alarms! Reconnecting by itself… If this lasts, check the server and call technical support.",
    broker_banner:
      "The post's server has LOST the receiver of the buttons' signals: alarms from the sites may not reach it! Call technical support now.",
    standby_banner:
      "This is the STANDBY server: read-only. The main server is on duty; this one takes over by itself if it stops.",
    session_ends_soon: "Your session ends at {time}. Log out and in again when convenient.",
    open_alarms: "Open alarms",
    no_alarms: "No open alarms.",
    troubles: "Technical troubles",
    no_troubles: "No technical troubles.",
    troubles_seen: "Mark troubles as seen",
    state_active: "NOT ACKNOWLEDGED",
    state_acknowledged: "ACKNOWLEDGED",
    state_resolved: "RESOLVED",
    alarm_id: "Alarm",
    raised_at: "Raised at {time}",
    ago: "{duration} ago",
    presses: "Presses",
    repeated: "repeated!",
    lost_together: "These buttons lost contact together (power, Wi-Fi cut, or tampering?)",
    level: "Escalation level",
    buttons: "Buttons",
    address: "Address",
    phone: "Phone",
    unregistered: "UNREGISTERED BUTTON",
    unknown_site: "Unknown site (unregistered button)",
    test_flag: "TEST",
    acknowledge: "Acknowledge",
    resolve: "Resolve…",
    details: "Details",
    acknowledged_by: "Acknowledged by {who} at {time} (after {wait})",
    person_acks: "Acknowledged from their phones: {who}",
    resolve_needs_ack: "An officer acknowledges before resolving.",
    post_of: "Post: {name}",
    post_handles: "The post acknowledges and resolves this alarm; the district watches and phones the post.",
    viewer_readonly: "View-only account: it cannot acknowledge or resolve.",
    resolve_title: "Resolve alarm {id}",
    outcome: "Outcome",
    outcome_genuine: "Genuine",
    outcome_false_alarm: "False alarm",
    outcome_test: "Test",
    outcome_other: "Other",
    outcome_open: "Not resolved",
    note: "Note (required)",
    note_hint: "For example: patrol arrived at 14:10, the customer pressed by mistake.",
    confirm_resolve: "Resolve the alarm",
    cancel: "Cancel",
    close: "Close",
    note_required: "Please write what happened.",
    outcome_required: "Please choose an outcome.",
    detail_title: "Alarm {id}",
    audit_trail: "Audit trail",
    press_list: "Presses",
    time: "Time",
    by: "By",
    action: "Action",
    type: "Type",
    battery: "Battery",
    note_short: "Note",
    err_network: "Could not reach the post's server. Check the network.",
    err_forbidden: "Not allowed: {detail}",
    err_conflict: "Could not do it: {detail}",
    err_generic: "Error {status}: {detail}",
    all: "All",
    search_text: "Search",
    site: "Site",
    status: "Status",
    online: "Online",
    offline: "Offline",
    unknown: "Unknown",
    low_battery: "Low battery",
    test_mode: "Test mode",
    yes: "Yes",
    no: "No",
    shown: "Showing {n} of {total}",
    col_button: "Button",
    col_label: "Mounted at",
    col_last_seen: "Last heard",
    col_registered: "Registered",
    col_site_name: "Site",
    col_buttons: "Buttons",
    from_date: "From",
    to_date: "To",
    state: "State",
    only_resolved: "Resolved",
    any_state: "Any state",
    search: "Search",
    export_csv: "Export CSV",
    more: "More",
    no_results: "Nothing found.",
    col_raised: "Raised",
    col_ack: "Acknowledged",
    col_resolved: "Resolved",
    month: "Month",
    show_report: "Show report",
    print: "Print",
    report_title: "Monthly report {month} — {post}",
    report_period: "From {from} to before {to} ({tz} time). Made at {generated}.",
    col_alarms: "Alarms",
    col_tests: "Tests",
    col_ack_median: "Time to acknowledge (median)",
    col_ack_max: "Longest",
    col_within: "Acknowledged ≤ 30 s / ≤ 60 s",
    col_unacked: "Never acknowledged",
    col_false_12m: "False alarms, 12 months",
    total: "Total",
    unregistered_buttons: "Unregistered buttons",
    title_alarm: "‼ ALARM ({n})",
    new_alarm: "New alarm: {site}",
    duration_s: "{s} s",
    duration_ms: "{m} min {s} s",
    duration_hm: "{h} h {m} min",
    duration_dh: "{d} d {h} h",
    trouble_since: "since {time}",
    "trouble.tamper": "Button tampered with",
    "trouble.bad_messages": "Button sends malformed messages",
    "trouble.broker_disconnected": "Lost the receiver of the buttons' signals",
    "trouble.session_lost": "The signal receiver restarted (messages may be lost)",
    "trouble.internal_error": "Error in the post's server",
    "trouble.store_unwritable": "The post's server cannot save data",
    "trouble.offline": "Button offline",
    "trouble.low_battery": "Button battery low",
    "trouble.clock_skew": "Button clock is off",
    "trouble.notifier_failing": "Notifications are failing",
    "trouble.post_silent": "Post silent",
    "trouble.upstream_lost": "Link to the district lost",
    "action.alarm.raised": "Alarm raised",
    "action.alarm.press": "Pressed again",
    "action.alarm.joined": "Another button of the site joined",
    "action.alarm.acknowledged": "Acknowledged",
    "action.alarm.person_acknowledged": "One person acknowledged from their phone",
    "action.alarm.resolved": "Resolved",
    "action.alarm.escalated": "Escalated",
    "action.button.cancel_requested": "Button asked to cancel",
    "action.button.tamper": "Button tampered with",
    conn_degraded: "● Buttons not heard",
    go_to_board: "Go to the board",
    alarm_banner: "ALARM NOT ACKNOWLEDGED: {sites}",
    alarm_banner_more: "{sites} and {n} more",
    sound_gate_first:
      "The browser keeps the page silent until you click this button. Click it now so that you hear alarms.",
    sound_gate_reload:
      "SOUND IS OFF: the page was reloaded and the browser blocks sound until someone clicks in the page. Click this button (or anywhere in the page) to turn it back on.",
    sound_gate_alarm: "THERE IS AN ALARM BUT THE SOUND IS OFF! Click this button to turn it on.",
    date_placeholder: "dd/mm/yyyy",
    date_hint: "Dates as day/month/year, for example 05/12/2026.",
    bad_date: "Not a date: “{value}”. Write day/month/year, for example 05/12/2026.",
    month_option: "{m}/{y}",
    escalated: "Passed up the chain ({n} time(s))",
    col_other: "Other",
    col_tests_title: "Test alarms: button or site in test mode, or resolved as a test",
    subject_hub: "The post's server",
    subject_post: "Post {name}",
    subject_site: "Site {name}",
    actor_hub: "System",
    actor_token: "connected application “{name}”",
    actor_link: "{name} (through the link in a message)",
    actor_button: "button {name}",
    tech_detail: "Details for the technician",
    "trouble.test_mode": "Button in test mode",
    "trouble.site_test_mode": "Site in test mode",
    "trouble.possible_forgery": "Possibly forged signal",
    "trouble.other": "Other technical trouble",
    kind: "Kind of alarm",
    "kind.holdup": "Hold-up / break-in",
    "kind.fire": "Fire",
    "kind.medical": "Medical emergency",
    "kind.assistance": "Assistance needed",
    "kind.comm_loss": "Loss of communication",
    report_kinds: "Alarms by kind",
    col_kind_alarms: "Real alarms",
    press_patterns: "Presses that raise another kind",
    press_patterns_hint: "For example: long_press=fire (a long press is a fire). One pattern a line.",
    "help.tamper": "The button's case was opened or it was taken off its mount. Call the site to check.",
    "help.bad_messages": "The button sends messages that cannot be read (set-up or button fault). Call the technician.",
    "help.broker_disconnected": "Alarms from the sites may not arrive. Call the technician now.",
    "help.session_lost": "The signal receiver restarted: messages sent meanwhile may be lost. Call the sites to ask, and the technician.",
    "help.internal_error": "The post's server failed to handle a message. Call the technician.",
    "help.store_unwritable": "The server cannot save data (disk full or failing): alarms are waiting. Call the technician now.",
    "help.offline": "The button no longer sends its regular signal. Call the site to check power and Wi-Fi.",
    "help.low_battery": "Replace the battery soon.",
    "help.low_battery_level": "Battery at {battery}%. Replace it soon.",
    "help.clock_skew": "The button's clock is off; alarms are still received. Tell the technician when convenient.",
    "help.notifier_failing": "Alarm messages cannot be sent out. Check the network and call the technician.",
    "help.post_silent": "Nothing heard from this post: its alarms may not reach the district. Phone the post.",
    "help.upstream_lost": "The district cannot see this post's alarms now. They are recorded here and go up by themselves when the link is back. For an urgent alarm, phone the district; tell the technician.",
    "help.test_mode": "Presses of this button are recorded as tests, not real alarms. Turn test mode off when done.",
    "help.site_test_mode": "Presses at this site are recorded as tests, not real alarms. Turn test mode off when done.",
    "help.possible_forgery": "An alarm message without the button's valid signature was not counted. Someone may be faking the signal: call the site and the technician.",
    "help.other": "Call the technician.",
    "action.escalation.steps": "Passed up the chain",
    "action.escalation.stopped": "Stopped passing up",
    "action.notify.queued": "Message queued",
    "action.notify.attempt": "Sending a message",
    "action.notify.delivered": "Message delivered",
    "action.notify.failed": "Message failed",
    "action.button.online": "Button connected",
    "action.button.offline": "Button disconnected",
    col_actions: "Actions",
    position: "Position",
    tab_users: "Users",
    site_add: "Add a site",
    button_add: "Add a button",
    site_id: "Site id (lower case letters, digits, -)",
    remove_site: "Remove the site {name}? (Its buttons must be removed or moved first.)",
    remove_button: "Remove the button {name}? It will no longer raise alarms for its site.",
    registry_export: "Download the sites and buttons (TOML file)",
    user_add: "Add a user",
    role: "Role",
    open_sessions: "Logged in",
    change_role: "Edit user {name}",
    change_role_short: "Edit",
    display_name: "Full name (shown on the page)",
    reset_password: "New password for {name} (their sessions end)",
    reset_password_short: "Reset password",
    new_password: "Password (at least 8 characters)",
    remove_user: "Remove the user {name}? They can no longer log in.",
    remove: "Remove",
    night_mode: "Night mode",
    ack_note: "What was done? (optional)",
    test_mode_title: "Turn test mode on: {name}",
    test_duration: "For how long? (it ends by itself)",
    hours: "{n} h",
    minutes: "{n} min",
    test_ends_sentence: "Ends by itself at {time}.",
    until_turned_off: "Until turned off by hand",
    test_ends: "ends by itself at {time}",
    edit: "Edit",
    save: "Save",
    edit_site: "Edit site {name}",
    edit_button: "Edit button {id}",
    no_site: "(no site)",
    test_mode_on: "Turn test mode on",
    test_mode_off: "Turn test mode off",
    clear_trouble: "Clear (checked)",
    clear_trouble_title: "Clear the trouble once checked",
    clear_trouble_note: "What was checked? (required)",
    "action.registry.site_added": "Site added",
  },
};

export const LANGUAGES = { vi: "Tiếng Việt", en: "English" };
const STORAGE_KEY = "chuong.lang";

let lang = "vi";
let timeZone = "Asia/Ho_Chi_Minh";

export function initialLanguage(hubDefault) {
  const saved = localStorage.getItem(STORAGE_KEY);
  return saved in STRINGS ? saved : hubDefault in STRINGS ? hubDefault : "vi";
}

export function setLanguage(code, remember) {
  lang = code in STRINGS ? code : "vi";
  document.documentElement.lang = lang;
  if (remember) localStorage.setItem(STORAGE_KEY, lang);
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  for (const node of document.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }
}

export function language() {
  return lang;
}

export function setTimeZone(zone) {
  timeZone = zone;
}

export function zone() {
  return timeZone;
}

export function t(key, values = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.vi[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : ""));
}

/** A known key's text, or the fallback (for kinds and actions the page has no words for). */
export function tOr(key, fallback) {
  return key in STRINGS[lang] ? t(key) : fallback;
}

function locale() {
  return lang === "vi" ? "vi-VN" : "en-GB";
}

/** "14:03:11 05/01/2026" in the hub's time zone. */
export function formatTime(isoText) {
  if (!isoText) return "";
  return new Intl.DateTimeFormat(locale(), {
    timeZone,
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
    hourCycle: "h23",
  }).format(new Date(isoText));
}

export function formatDate(date) {
  return new Intl.DateTimeFormat(locale(), {
    timeZone,
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
  }).format(date);
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return t("duration_s", { s });
  if (s < 3600) return t("duration_ms", { m: Math.floor(s / 60), s: String(s % 60).padStart(2, "0") });
  if (s < 86400) {
    return t("duration_hm", { h: Math.floor(s / 3600), m: String(Math.floor(s / 60) % 60).padStart(2, "0") });
  }
  return t("duration_dh", { d: Math.floor(s / 86400), h: Math.floor(s / 3600) % 24 });
}

/** Minutes east of UTC of the hub's time zone at `date`. */
function offsetMinutes(date) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(date);
  const get = (type) => Number(parts.find((part) => part.type === type).value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return Math.round((asUtc - date.getTime()) / 60000);
}

/** The instant a local calendar day (YYYY-MM-DD, in the hub's time zone) begins, as ISO UTC. */
export function localDayStart(day) {
  const [year, month, date] = day.split("-").map(Number);
  const guess = Date.UTC(year, month - 1, date);
  let instant = guess - offsetMinutes(new Date(guess)) * 60000;
  instant = guess - offsetMinutes(new Date(instant)) * 60000;
  return new Date(instant).toISOString();
}

/** The day after a YYYY-MM-DD day. */
export function nextDay(day) {
  const [year, month, date] = day.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, date + 1)).toISOString().slice(0, 10);
}

/** Today's month (YYYY-MM) in the hub's time zone. */
export function currentMonth(now) {
  const local = new Date(now.getTime() + offsetMinutes(now) * 60000);
  return local.toISOString().slice(0, 7);
}

/** "05/12/2026" (day/month/year, the way dates are written in Vietnam) -> "2026-12-05"; "" for
 * an empty field; null when it is not a real date. "5/12/2026" and "05-12-2026" are accepted. */
export function parseDay(text) {
  const value = text.trim();
  if (!value) return "";
  const match = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(value);
  if (!match) return null;
  const [day, month, year] = match.slice(1).map(Number);
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  return date.toISOString().slice(0, 10);
}

/** "2026-12-05" -> "05/12/2026". */
export function showDay(day) {
  const [year, month, date] = day.split("-");
  return `${date}/${month}/${year}`;
}

/** Who did something, for people: "user:trucban" -> "trucban", "token:x" -> "connected
 * application x", "link:x" -> "x (through the link in a message)", "button:x" -> "button x". */
export function actorName(actor, buttonName = (id) => id) {
  if (!actor) return "";
  if (actor === "hub" || actor === "system") return t("actor_hub");
  const at = actor.indexOf(":");
  if (at < 0) return actor;
  const [kind, name] = [actor.slice(0, at), actor.slice(at + 1)];
  if (kind === "user") return name;
  if (kind === "token") return t("actor_token", { name });
  if (kind === "link") return t("actor_link", { name });
  if (kind === "button") return t("actor_button", { name: buttonName(name) });
  if (kind === "post") return t("subject_post", { name });
  return actor;
}
